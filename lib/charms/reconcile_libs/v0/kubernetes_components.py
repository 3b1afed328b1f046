# Copyright 2026 reconcile-libs contributors
# SPDX-License-Identifier: Apache-2.0
"""Apply, prune and remove Kubernetes objects from a charm, as one reconciler component.

`KubernetesResources` is a `Component` for the reconcile loop of
`charms.reconcile_libs.v0.reconciler`. On every hook it makes a set of Kubernetes objects, which
your code declares, exist exactly as declared, deletes the ones you stopped declaring, and reports
whether they are ready. It runs on the leader only.

## Quick start

```python
import ops
from charms.reconcile_libs.v0.kubernetes_components import KubernetesResources
from charms.reconcile_libs.v0.reconciler import CharmReconciler


class MyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.reconciler.add(KubernetesResources('k8s', lambda ctx: [
            {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'settings'},
             'data': {'greeting': str(ctx.charm.config.get('greeting', 'hello'))}},
        ]))
```

Deploy with `juju deploy ./my-charm.charm --trust` (or run `juju trust my-charm --scope=cluster`
later): the charm's service account needs the rights to manage the objects.

## Full example

Objects can be dicts, lightkube resource objects or YAML text; `render_yaml` turns a
`string.Template` (`$name` / `${name}` placeholders, `$$` for a literal `$`) into objects and fails
on a missing variable instead of rendering an empty value. Custom resources can follow their
`CustomResourceDefinition` in the same set.

```python
import dataclasses

import ops
from charms.reconcile_libs.v0.kubernetes_components import (
    CrdPolicy, KubernetesResources, Manifest, render_yaml,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler, ConfigComponent, ReconcileContext
from lightkube.resources.core_v1 import Service  # only if you build objects with lightkube

MANIFESTS = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: $app-worker}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: $app-worker}}
  template:
    metadata: {labels: {app: $app-worker}}
    spec: {containers: [{name: worker, image: "$image"}]}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: $app-widget}
spec: {size: $replicas}
'''


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    image: str = 'ghcr.io/example/worker:1.0'
    replicas: int = 1


class WorkerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.config_component = self.reconciler.add(ConfigComponent(WorkerConfig))
        self.reconciler.add(
            KubernetesResources('workers', self._objects, crd_policy=CrdPolicy.KEEP),
            depends_on=[self.config_component],
        )

    def _objects(self, ctx: ReconcileContext) -> list[Manifest]:
        config = ctx.output_of(self.config_component)
        app = self.app.name
        objects: list[Manifest] = [*render_yaml(MANIFESTS, {
            'app': app, 'replicas': config.replicas, 'image': config.image,
        })]
        objects.append(Service.from_dict({
            'metadata': {'name': f'{app}-worker'},
            'spec': {'ports': [{'port': 8080}], 'selector': {'app': f'{app}-worker'}},
        }))
        return objects
```

Tests inject the client: pass `client=lightkube.Client(config, field_manager=...)` or a
zero-argument factory returning one.

## What a reconcile does

1. Collects the desired objects and normalises them: a namespaced object without a namespace
   goes to `namespace` (default: the model's namespace); identity is
   `(group, kind, namespace, name)` — the `apiVersion` is not part of it, so moving an object to
   a new API version is an update, not a delete and a create.
2. Server-side applies every object (`fieldManager` = the application name, `force=True`) in
   dependency order: CRDs, namespaces, service accounts/secrets/config, RBAC, services,
   workloads, then custom resources. Before the first custom resource of a CRD in the set it
   waits (at most `crd_timeout` seconds) for the CRD to be `Established`.
3. Only after every apply succeeded, deletes exactly the objects it applied before and no longer
   declares (`previous - desired`), in reverse order.
4. Reports readiness of every object, kstatus style: being deleted; `observedGeneration` behind
   `generation`; then per-kind rules (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod,
   PersistentVolumeClaim, Service, CustomResourceDefinition, Namespace); then a `Ready`,
   `Reconciling` or `Stalled` condition.

**The inventory** of what was applied lives in a ConfigMap in the model's namespace,
`<app>.<component>.inventory` (key `objects`: a JSON list of
`[group, version, kind, plural, namespace, name]`, namespace `""` for cluster-scoped objects).
A component name that is not a lowercase DNS subdomain (`my_resources`, `Route`) is sanitised
and followed by a hash of the exact name (`<app>.my-resources-<hash>.inventory`), so two
components never share an inventory.
Every unit can read it, so a new leader prunes what the old leader applied. It costs one GET per
reconcile, one write when objects are added (before they are applied, so a failed hook cannot
leak them) and one when objects are pruned. A steady-state reconcile makes N no-op applies and
one GET, and writes nothing: the API server does not change an object (nor its
`resourceVersion`) when an apply does not change it.

**Fields owned by someone else.** Applies use `force=True`: a field that this charm declares is
taken back from any other field manager (a `kubectl edit`, another controller) on the next hook.
Fields the charm does not declare are left alone, whoever set them: annotations added by other
tools, a `replicas` count set by an autoscaler when the charm does not declare `replicas`.
A field the charm stops declaring is removed by the API server if no other manager owns it.

## Removal

On the `remove` hook (leader only) the objects of the inventory are deleted in reverse order,
then the inventory itself. `CustomResourceDefinition`s are kept by default, because Juju also
runs `remove` on scale-to-zero and deleting a CRD deletes every custom resource of it in the
cluster; pass `crd_policy=CrdPolicy.DELETE` to delete them. The same policy applies when a CRD
is dropped from the desired set. Objects that are gone already are fine.

## Events

The component observes nothing itself: the `CharmReconciler` runs it on every event it wires
(install, config-changed, upgrade-charm, leader-elected, update-status, ...) on the leader, and
its `remove` on the leader's `remove` hook. update-status therefore re-applies (a no-op when
nothing drifted) and refreshes readiness. Non-leader units skip it (`LeaderOnly`).

## Statuses

- active: every object is ready.
- waiting: `<Kind> <namespace>/<name>: <why>` for the least ready object (`(+N more not
  ready)` when there are several); CRD not yet Established; the API server is unreachable, timed
  out, overloaded (429/5xx) or reported a conflict (409); a namespace does not exist yet.
- blocked: `... forbidden ...: run juju trust <app> --scope=cluster` on a 403; an object the API
  server rejects as invalid (400/422); a manifest that cannot be used (missing template
  variable, no name, unknown kind); an object that failed (a Deployment past its progress
  deadline, a failed Job, a `Stalled` condition).

Every status is also logged with its cause. Unexpected exceptions (bugs) are not turned into
statuses; the reconciler reports them and re-raises them so Juju retries the hook.

lightkube (and its httpx2/msgspec stack) is imported only when a component runs, so importing
this module from a hook that does not need Kubernetes costs next to nothing.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import importlib
import json
import logging
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Union, cast

import ops
from charms.reconcile_libs.v0.reconciler import (
    BlockedError,
    Component,
    ReconcileContext,
    StatusError,
    WaitingError,
)

if TYPE_CHECKING:
    from lightkube import Client

# The unique Charmhub library identifier, never change it
LIBID = '21f49af088bf4f31b09617afa693c408'

# Increment this major API version when introducing breaking changes
LIBAPI = 0

# Increment this PATCH version before using `charmcraft publish-lib` or reset
# to 0 if you are raising the major API version
LIBPATCH = 1

PYDEPS = ['lightkube>=0.15,<2', 'PyYAML>=6']

__all__ = [
    'CrdPolicy',
    'KubernetesResources',
    'Manifest',
    'ManifestError',
    'ObjectKey',
    'Readiness',
    'ReadinessState',
    'ResourceObject',
    'evaluate_readiness',
    'render_template',
    'render_yaml',
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class ResourceObject(Protocol):
    """A lightkube resource object (anything with lightkube's `to_dict()`)."""

    def to_dict(self) -> Any:
        """The object as a plain dict."""
        ...


Manifest = Union[Mapping[str, Any], str, ResourceObject]  # noqa: UP007 (a runtime alias)
"""A desired object: a dict, YAML text (one or more documents) or a lightkube resource object."""


class ManifestError(ValueError):
    """A desired object cannot be used: a missing template variable, no name, bad YAML."""


class CrdPolicy(str, enum.Enum):
    """What happens to a CustomResourceDefinition on removal or when it is no longer declared."""

    KEEP = 'keep'
    """Leave it (and every custom resource of it) in the cluster. The default."""
    DELETE = 'delete'
    """Delete it; Kubernetes then deletes all its custom resources."""


class ObjectKey(NamedTuple):
    """Identity of a Kubernetes object; the API version is deliberately not part of it.

    Attributes:
        group: API group, '' for the core group.
        kind: the object's kind.
        namespace: '' for cluster-scoped objects.
        name: the object's name.
    """

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f'{self.namespace}/{self.name}' if self.namespace else self.name
        return f'{self.kind} {where}'


class ReadinessState(str, enum.Enum):
    """kstatus' summary of an object, best first."""

    CURRENT = 'Current'
    IN_PROGRESS = 'InProgress'
    TERMINATING = 'Terminating'
    FAILED = 'Failed'


@dataclass(frozen=True)
class Readiness:
    """Readiness of one object: its state, a CamelCase reason and a message."""

    state: ReadinessState
    reason: str
    message: str

    @property
    def ready(self) -> bool:
        """True when the object is as its controller should make it."""
        return self.state is ReadinessState.CURRENT


def render_template(template: str, variables: Mapping[str, object]) -> str:
    """Substitute `$name` / `${name}` placeholders (`string.Template`); `$$` is a literal `$`.

    Raises:
        ManifestError: a placeholder has no value in `variables`, or is malformed.
    """
    try:
        return string.Template(template).substitute({k: str(v) for k, v in variables.items()})
    except KeyError as error:
        raise ManifestError(f'template variable ${error.args[0]} is not defined') from None
    except ValueError as error:
        raise ManifestError(f'invalid template placeholder: {error}') from None


def render_yaml(
    template: str, variables: Mapping[str, object] | None = None
) -> list[dict[str, Any]]:
    """Render a multi-document YAML template into object dicts.

    With `variables` the text is first rendered by `render_template`; without, it is used as is.
    Empty documents are skipped and `*List` kinds are flattened.

    Raises:
        ManifestError: a missing variable, invalid YAML, or a document that is not a mapping.
    """
    import yaml

    text = template if variables is None else render_template(template, variables)
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise ManifestError(f'invalid YAML: {error}') from None
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ManifestError(f'YAML document {index} is not a mapping')
        objects.extend(_flatten_list(cast('dict[str, Any]', document)))
    return objects


def evaluate_readiness(obj: Mapping[str, Any]) -> Readiness:
    """kstatus-style readiness of a live object (as returned by the API server).

    Order: deletion in progress, then `observedGeneration` against `generation`, then
    `Reconciling` / `Stalled` conditions, then per-kind rules, then a `Ready` condition.
    """
    metadata = _mapping(obj.get('metadata'))
    status = _mapping(obj.get('status'))
    if metadata.get('deletionTimestamp'):
        return Readiness(ReadinessState.TERMINATING, 'Terminating', 'being deleted')
    generation = metadata.get('generation')
    observed = status.get('observedGeneration')
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return _in_progress(
            'NotObserved', f'generation {generation} not observed yet (at {observed})'
        )
    conditions = _conditions(status)
    stalled = conditions.get('Stalled')
    if stalled and stalled.get('status') == 'True':
        return _failed(str(stalled.get('reason') or 'Stalled'), _message(stalled, 'stalled'))
    reconciling = conditions.get('Reconciling')
    if reconciling and reconciling.get('status') == 'True':
        return _in_progress(
            str(reconciling.get('reason') or 'Reconciling'), _message(reconciling, 'reconciling')
        )
    rule = _KIND_RULES.get(str(obj.get('kind', '')))
    if rule is not None:
        return rule(obj, status, conditions)
    return _ready_condition(conditions)


# --------------------------------------------------------------------------------------------
# Public API: the component
# --------------------------------------------------------------------------------------------

ObjectsSource = Union[  # noqa: UP007 (a runtime alias)
    Callable[[ReconcileContext], Iterable[Manifest]], Iterable[Manifest]
]


class KubernetesResources(Component[tuple[ObjectKey, ...]]):
    """Keeps a set of Kubernetes objects applied, prunes dropped ones, reports their readiness.

    Leader-only. Its output is the keys of the objects it applied, in apply order.

    Args:
        name: the component's name; also part of the inventory ConfigMap's name.
        objects: the desired objects, or a function of the `ReconcileContext` returning them.
        client: a `lightkube.Client` or a zero-argument factory (the caller owns what they
            return); default: `lightkube.Client(field_manager=<app>)` from the environment
            (in-cluster config), built on first use and closed at the end of the hook's work.
        namespace: namespace for namespaced objects that do not name one, and for the
            inventory; default: the model's namespace.
        field_manager: server-side apply field manager; default: the application name.
        crd_policy: keep (default) or delete CRDs on removal and when they are dropped.
        crd_timeout: seconds to wait for a new CRD to become Established within one hook.
    """

    def __init__(
        self,
        name: str,
        objects: ObjectsSource,
        *,
        client: Client | Callable[[], Client] | None = None,
        namespace: str | None = None,
        field_manager: str | None = None,
        crd_policy: CrdPolicy = CrdPolicy.KEEP,
        crd_timeout: float = 10.0,
    ) -> None:
        super().__init__(name, leader_only=True)
        self._objects = objects
        self._client_source = client
        self._client: Client | None = None
        self.namespace = namespace
        self.field_manager = field_manager
        self.crd_policy = CrdPolicy(crd_policy)
        self.crd_timeout = crd_timeout
        self._status: ops.StatusBase = ops.ActiveStatus()
        self._inputs: object = None

    # ---- Component API ---------------------------------------------------------------------

    def reconcile(self, ctx: ReconcileContext) -> tuple[ObjectKey, ...]:
        """Apply the desired objects, then prune the ones dropped since the last reconcile."""
        run = self._run(ctx)
        try:
            desired = run.desired_objects(lambda: self._source_objects(ctx))
            self._inputs = _digest_manifests(desired)
            applied = run.apply_and_prune(desired)
        finally:
            self._close_default_client()
        self._status = _rollup_readiness(applied)
        return tuple(item.key for item in applied)

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        """Readiness of the least ready object, as computed by the last reconcile."""
        return self._status

    def remove(self, ctx: ReconcileContext) -> None:
        """Delete the inventory's objects in reverse order (CRDs per `crd_policy`)."""
        try:
            self._run(ctx).remove_all()
        finally:
            self._close_default_client()

    def inputs(self, ctx: ReconcileContext) -> object:
        """A digest of the normalised desired objects."""
        return self._inputs

    # ---- internals ---------------------------------------------------------------------------

    def _run(self, ctx: ReconcileContext) -> _Run:
        app = ctx.charm.app.name
        field_manager = self.field_manager or app
        return _Run(
            _RunSettings(
                component=self.name,
                app=app,
                namespace=self.namespace or ctx.charm.model.name,
                field_manager=field_manager,
                crd_policy=self.crd_policy,
                crd_timeout=self.crd_timeout,
            ),
            lambda: self._client_for(field_manager),
        )

    def _client_for(self, field_manager: str) -> Client:
        if self._client is None:
            source = self._client_source
            if source is None:
                from lightkube import Client

                self._client = Client(field_manager=field_manager)
            elif callable(source):
                self._client = source()
            else:
                self._client = source
        return self._client

    def _close_default_client(self) -> None:
        if self._client is not None and self._client_source is None:
            self._client.close()
            self._client = None

    def _source_objects(self, ctx: ReconcileContext) -> Iterable[Manifest]:
        source = self._objects
        if callable(source):
            return source(ctx)
        return source


# --------------------------------------------------------------------------------------------
# Internals: pure parts (no lightkube)
# --------------------------------------------------------------------------------------------

INVENTORY_FORMAT = '1'

# Apply order (lower first); removal is the reverse. Custom resources come after all of these.
_KIND_RANK: dict[str, int] = {
    'CustomResourceDefinition': 10,
    'Namespace': 20,
    'ResourceQuota': 21,
    'LimitRange': 22,
    'PriorityClass': 23,
    'NetworkPolicy': 24,
    'ServiceAccount': 30,
    'Secret': 31,
    'ConfigMap': 32,
    'StorageClass': 33,
    'PersistentVolume': 34,
    'PersistentVolumeClaim': 35,
    'ClusterRole': 40,
    'ClusterRoleBinding': 41,
    'Role': 42,
    'RoleBinding': 43,
    'Service': 50,
    'PodDisruptionBudget': 55,
    'DaemonSet': 60,
    'Pod': 61,
    'ReplicaSet': 62,
    'Deployment': 63,
    'StatefulSet': 64,
    'HorizontalPodAutoscaler': 65,
    'Job': 66,
    'CronJob': 67,
    'Ingress': 70,
    'APIService': 80,
    'ValidatingWebhookConfiguration': 81,
    'MutatingWebhookConfiguration': 82,
}
_OTHER_BUILTIN_RANK = 90
_CUSTOM_RESOURCE_RANK = 100

_CLUSTER_SCOPED_BUILTINS = frozenset({
    'APIService', 'CertificateSigningRequest', 'ClusterRole', 'ClusterRoleBinding',
    'ComponentStatus', 'CSIDriver', 'CSINode', 'CustomResourceDefinition', 'FlowSchema',
    'IngressClass', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding',
    'MutatingWebhookConfiguration', 'Namespace', 'Node', 'PersistentVolume', 'PriorityClass',
    'PriorityLevelConfiguration', 'RuntimeClass', 'StorageClass', 'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding', 'ValidatingWebhookConfiguration', 'VolumeAttachment',
})  # fmt: skip


def api_group(api_version: str) -> str:
    """The group of an apiVersion: '' for 'v1', 'apps' for 'apps/v1'."""
    return api_version.rsplit('/', 1)[0] if '/' in api_version else ''


def object_key(manifest: Mapping[str, Any], namespaced: bool) -> ObjectKey:
    """Identity of a normalised manifest (its namespace already defaulted)."""
    metadata = _mapping(manifest.get('metadata'))
    return ObjectKey(
        api_group(str(manifest['apiVersion'])),
        str(manifest['kind']),
        str(metadata.get('namespace') or '') if namespaced else '',
        str(metadata['name']),
    )


def apply_rank(key: ObjectKey, custom_kinds: frozenset[tuple[str, str]]) -> int:
    """Apply-order rank of an object; `custom_kinds` are (group, kind) pairs served by CRDs."""
    if (key.group, key.kind) in custom_kinds:
        return _CUSTOM_RESOURCE_RANK
    rank = _KIND_RANK.get(key.kind)
    if rank is not None:
        return rank
    return _OTHER_BUILTIN_RANK if _is_builtin_group(key.group) else _CUSTOM_RESOURCE_RANK


def order_for_apply(
    keys: Sequence[ObjectKey], custom_kinds: frozenset[tuple[str, str]] = frozenset()
) -> list[int]:
    """Indices of `keys` in apply order (stable: equal ranks keep their given order)."""
    return sorted(range(len(keys)), key=lambda i: apply_rank(keys[i], custom_kinds))


def normalise_manifest(
    raw: Mapping[str, Any], default_namespace: str, namespaced: bool
) -> dict[str, Any]:
    """A deep copy of `raw` with the namespace set (namespaced) or removed (cluster-scoped).

    Raises:
        ManifestError: no apiVersion, kind or metadata.name.
    """
    manifest = copy.deepcopy(dict(raw))
    check_manifest(manifest)
    metadata = dict(_mapping(manifest.get('metadata')))
    if namespaced:
        metadata['namespace'] = str(metadata.get('namespace') or default_namespace)
    else:
        metadata.pop('namespace', None)
    manifest['metadata'] = metadata
    return manifest


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise ManifestError unless the object has a string apiVersion, kind and metadata.name."""
    kind = manifest.get('kind')
    for field in ('apiVersion', 'kind'):
        if not isinstance(manifest.get(field), str) or not manifest.get(field):
            raise ManifestError(f'object {kind or "(no kind)"!s} has no {field}')
    name = _mapping(manifest.get('metadata')).get('name')
    if not isinstance(name, str) or not name:
        raise ManifestError(f'{kind} object has no metadata.name')


def default_is_namespaced(api_version: str, kind: str) -> bool:
    """Scope of built-in kinds without asking lightkube (used by the pure helpers and tests)."""
    del api_version
    return kind not in _CLUSTER_SCOPED_BUILTINS


@dataclass(frozen=True)
class InventoryEntry:
    """One applied object, with what is needed to delete it later."""

    group: str
    version: str
    kind: str
    plural: str
    namespace: str
    name: str

    @property
    def key(self) -> ObjectKey:
        """The entry's identity."""
        return ObjectKey(self.group, self.kind, self.namespace, self.name)

    @property
    def api_version(self) -> str:
        """The apiVersion it was last applied with."""
        return f'{self.group}/{self.version}' if self.group else self.version


def encode_inventory(entries: Iterable[InventoryEntry]) -> str:
    """Canonical JSON of an inventory (stable order, so equal sets encode equally)."""
    rows = sorted([e.group, e.version, e.kind, e.plural, e.namespace, e.name] for e in entries)
    return json.dumps(rows, separators=(',', ':'))


def decode_inventory(text: str) -> list[InventoryEntry]:
    """Parse `encode_inventory` output; a malformed inventory raises ManifestError."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f'inventory is not JSON: {error}') from None
    if not isinstance(rows, list):
        raise ManifestError('inventory is not a JSON list')
    entries: list[InventoryEntry] = []
    for row in cast('list[object]', rows):
        if not (isinstance(row, list) and len(cast('list[object]', row)) == 6):
            raise ManifestError(f'inventory row {row!r} is not a list of 6 strings')
        fields = [str(value) for value in cast('list[object]', row)]
        entries.append(InventoryEntry(*fields))
    return entries


def prune_plan(
    previous: Sequence[InventoryEntry],
    desired: Iterable[ObjectKey],
    crd_policy: CrdPolicy,
) -> tuple[list[InventoryEntry], list[InventoryEntry]]:
    """What to delete (reverse apply order) and which dropped CRDs to leave alone.

    Returns:
        (to_delete, kept): `previous - desired` by identity; CRDs go to `kept` under KEEP.
    """
    desired_keys = set(desired)
    dropped = [entry for entry in previous if entry.key not in desired_keys]
    kept = [e for e in dropped if _is_crd(e.key) and crd_policy is CrdPolicy.KEEP]
    to_delete = [e for e in dropped if e not in kept]
    custom = frozenset((e.group, e.kind) for e in previous if not _is_builtin_group(e.group))
    to_delete.sort(key=lambda e: apply_rank(e.key, custom), reverse=True)
    return to_delete, kept


_DNS_SUBDOMAIN = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
_MAX_NAME = 253


def inventory_name(app: str, component: str) -> str:
    """Name of the inventory ConfigMap: a DNS subdomain, distinct for distinct component names.

    A component name that is already a DNS subdomain is used as is: `<app>.<component>.inventory`.
    Any other (`a_b`, `Route`, too long) is sanitised and followed by a hash of the exact name,
    `<app>.<sanitised>-<hash>.inventory`, so that `a_b` and `a-b` (or `Route` and `route`) never
    share an inventory, which would make each prune the other's objects.
    """
    readable = f'{app}.{component}.inventory'
    if len(readable) <= _MAX_NAME and _DNS_SUBDOMAIN.fullmatch(component):
        return readable
    digest = hashlib.sha256(component.encode()).hexdigest()[:12]
    room = _MAX_NAME - len(f'{app}.-{digest}.inventory')
    cleaned = re.sub('[^a-z0-9]+', '-', component.lower())[: max(room, 0)].strip('-')
    return f'{app}.{cleaned}-{digest}.inventory' if cleaned else f'{app}.{digest}.inventory'


def status_error_for_http(code: int, action: str, detail: str, app: str) -> StatusError:
    """Map an HTTP error from the API server to the status error a user can act on."""
    detail = _shorten(detail)
    if code == 403:
        return BlockedError(
            f'forbidden to {action}: run `juju trust {app} --scope=cluster` ({detail})'
        )
    if code == 401:
        return BlockedError(f'API server rejected the credentials to {action} (401): {detail}')
    if code in (400, 422):
        return BlockedError(f'API server rejected {action} as invalid ({code}): {detail}')
    if code == 404:
        return WaitingError(f'not found while trying to {action} (404): {detail}')
    if code == 409:
        return WaitingError(f'conflict while trying to {action} (409): {detail}')
    if code == 429:
        return WaitingError(f'API server is throttling requests to {action} (429): {detail}')
    return WaitingError(f'API server error while trying to {action} ({code}): {detail}')


def status_error_for(error: BaseException, action: str, app: str) -> StatusError | None:
    """The status error for an exception raised by lightkube, or None for any other exception.

    Handles lightkube's ApiError, the raw HTTP status errors it raises for non-JSON replies,
    transport errors and timeouts (raw httpx/httpx2 exceptions), and configuration errors.
    """
    from lightkube import ApiError, ConfigError, LoadResourceError

    httpx = _httpx_module()
    if isinstance(error, ApiError):
        status = error.status
        code = int(status.code or error.response.status_code)
        return status_error_for_http(code, action, str(status.message or status.reason), app)
    if isinstance(error, httpx.HTTPStatusError):
        response = cast(Any, error).response
        status_code: int = response.status_code
        detail: str = response.text.strip() or response.reason_phrase
        return status_error_for_http(status_code, action, detail, app)
    if isinstance(error, httpx.TimeoutException):
        return WaitingError(f'timed out trying to {action}: {type(error).__name__}')
    if isinstance(error, (httpx.TransportError, httpx.HTTPError)):
        detail = _shorten(str(error) or type(error).__name__)
        return WaitingError(f'cannot reach the Kubernetes API to {action}: {detail}')
    if isinstance(error, ConfigError):
        return BlockedError(f'no usable Kubernetes client configuration: {_shorten(str(error))}')
    if isinstance(error, LoadResourceError):
        return BlockedError(f'unknown resource kind: {_shorten(str(error))}')
    return None


# --------------------------------------------------------------------------------------------
# Internals: readiness rules
# --------------------------------------------------------------------------------------------

_Rule = Callable[
    [Mapping[str, Any], Mapping[str, Any], Mapping[str, Mapping[str, Any]]], Readiness
]


def _in_progress(reason: str, message: str) -> Readiness:
    return Readiness(ReadinessState.IN_PROGRESS, reason, message)


def _failed(reason: str, message: str) -> Readiness:
    return Readiness(ReadinessState.FAILED, reason, message)


def _current(message: str = 'ready') -> Readiness:
    return Readiness(ReadinessState.CURRENT, 'Current', message)


def _mapping(value: object) -> Mapping[str, Any]:
    return cast('Mapping[str, Any]', value) if isinstance(value, Mapping) else {}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    result: dict[str, Mapping[str, Any]] = {}
    raw = status.get('conditions')
    if isinstance(raw, list):
        for item in cast('list[object]', raw):
            condition = _mapping(item)
            if isinstance(condition.get('type'), str):
                result[str(condition['type'])] = condition
    return result


def _message(condition: Mapping[str, Any], default: str) -> str:
    return str(condition.get('message') or condition.get('reason') or default)


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get('spec'))


def _requires_observed_generation(status: Mapping[str, Any]) -> Readiness | None:
    if 'observedGeneration' not in status:
        return _in_progress('NotObserved', 'not yet observed by its controller')
    return None


def _replica_counts(
    want: int, status: Mapping[str, Any], fields: Sequence[tuple[str, str, str]]
) -> Readiness | None:
    for field, reason, label in fields:
        have = _int(status.get(field))
        if have < want:
            return _in_progress(reason, f'{label}: {have}/{want}')
    return None


def _deployment(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    progressing = conditions.get('Progressing', {})
    if progressing.get('reason') == 'ProgressDeadlineExceeded':
        return _failed(
            'ProgressDeadlineExceeded', _message(progressing, 'progress deadline exceeded')
        )
    want = _int(_spec(obj).get('replicas'), 1)
    waiting = _replica_counts(
        want,
        status,
        (
            ('updatedReplicas', 'LessUpdated', 'Updated'),
            ('readyReplicas', 'LessReady', 'Ready'),
            ('availableReplicas', 'LessAvailable', 'Available'),
        ),
    )
    if waiting:
        return waiting
    if _int(status.get('replicas')) > want:
        return _in_progress(
            'ExtraPods', f'Pods: {status.get("replicas")}/{want} (old pods remain)'
        )
    available = conditions.get('Available')
    if available and available.get('status') == 'False':
        return _in_progress('NotAvailable', _message(available, 'not available'))
    return _current(f'Replicas: {want}')


def _replica_set(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    failure = conditions.get('ReplicaFailure')
    if failure and failure.get('status') == 'True':
        return _in_progress('ReplicaFailure', _message(failure, 'replica failure'))
    want = _int(_spec(obj).get('replicas'), 1)
    waiting = _replica_counts(
        want,
        status,
        (
            ('readyReplicas', 'LessReady', 'Ready'),
            ('availableReplicas', 'LessAvailable', 'Available'),
        ),
    )
    return waiting or _current(f'Replicas: {want}')


def _stateful_set(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    spec = _spec(obj)
    want = _int(spec.get('replicas'), 1)
    waiting = _replica_counts(
        want,
        status,
        (('replicas', 'LessReplicas', 'Replicas'), ('readyReplicas', 'LessReady', 'Ready')),
    )
    if waiting:
        return waiting
    strategy = _mapping(spec.get('updateStrategy'))
    if strategy.get('type', 'RollingUpdate') != 'RollingUpdate':
        return _current(f'Replicas: {want}')
    partition = _int(_mapping(strategy.get('rollingUpdate')).get('partition'))
    if partition > 0:
        updated = _int(status.get('updatedReplicas'))
        if updated < want - partition:
            return _in_progress('PartitionRollout', f'Updated: {updated}/{want - partition}')
        return _current(f'Partitioned rollout complete: {updated} updated')
    if status.get('currentRevision') != status.get('updateRevision'):
        return _in_progress('RevisionMismatch', 'rolling update in progress')
    return _current(f'Replicas: {want}')


def _daemon_set(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    not_observed = _requires_observed_generation(status)
    if not_observed:
        return not_observed
    want = _int(status.get('desiredNumberScheduled'))
    waiting = _replica_counts(
        want,
        status,
        (
            ('currentNumberScheduled', 'LessCurrent', 'Scheduled'),
            ('updatedNumberScheduled', 'LessUpdated', 'Updated'),
            ('numberAvailable', 'LessAvailable', 'Available'),
            ('numberReady', 'LessReady', 'Ready'),
        ),
    )
    return waiting or _current(f'Ready: {want}/{want}')


def _job(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    failed = conditions.get('Failed')
    if failed and failed.get('status') == 'True':
        return _failed(str(failed.get('reason') or 'JobFailed'), _message(failed, 'job failed'))
    complete = conditions.get('Complete')
    if complete and complete.get('status') == 'True':
        return _current('job completed')
    if not status.get('startTime'):
        return _in_progress('JobNotStarted', 'job not started')
    return _current(f'job running: {_int(status.get("succeeded"))} succeeded')


def _pod(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    phase = status.get('phase')
    if phase == 'Succeeded':
        return _current('pod succeeded')
    if phase == 'Failed':
        return _failed('PodFailed', str(status.get('message') or 'pod failed'))
    ready = conditions.get('Ready')
    if phase == 'Running' and ready and ready.get('status') == 'True':
        return _current('pod running')
    return _in_progress('PodNotReady', f'pod is {phase or "Pending"}')


def _pvc(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    phase = status.get('phase')
    if phase == 'Bound':
        return _current('bound')
    if phase == 'Lost':
        return _failed('ClaimLost', 'the bound volume was lost')
    return _in_progress('NotBound', f'claim is {phase or "Pending"}, not Bound')


def _service(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    spec = _spec(obj)
    if spec.get('type') == 'LoadBalancer' and not spec.get('clusterIP'):
        return _in_progress('NoIPAssigned', 'cluster IP not assigned yet')
    return _current('service ready')


def _crd(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    names = conditions.get('NamesAccepted')
    if names and names.get('status') == 'False':
        return _failed('NamesNotAccepted', _message(names, 'names not accepted'))
    established = conditions.get('Established')
    if established and established.get('status') == 'True':
        return _current('established')
    return _in_progress('NotEstablished', 'not Established yet')


def _namespace(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    if status.get('phase') == 'Terminating':
        return Readiness(ReadinessState.TERMINATING, 'Terminating', 'namespace is terminating')
    return _current('active')


def _always_current(
    obj: Mapping[str, Any], status: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]]
) -> Readiness:
    return _current()


def _ready_condition(conditions: Mapping[str, Mapping[str, Any]]) -> Readiness:
    ready = conditions.get('Ready')
    if ready and ready.get('status') == 'False':
        return _in_progress(str(ready.get('reason') or 'NotReady'), _message(ready, 'not ready'))
    if ready and ready.get('status') == 'Unknown':
        return _in_progress(str(ready.get('reason') or 'ReadyUnknown'), _message(ready, 'unknown'))
    return _current()


_KIND_RULES: dict[str, _Rule] = {
    'Deployment': _deployment,
    'ReplicaSet': _replica_set,
    'StatefulSet': _stateful_set,
    'DaemonSet': _daemon_set,
    'Job': _job,
    'Pod': _pod,
    'PersistentVolumeClaim': _pvc,
    'Service': _service,
    'CustomResourceDefinition': _crd,
    'Namespace': _namespace,
    'ConfigMap': _always_current,
    'Secret': _always_current,
    'ServiceAccount': _always_current,
}

_SEVERITY = {
    ReadinessState.CURRENT: 0,
    ReadinessState.IN_PROGRESS: 1,
    ReadinessState.TERMINATING: 2,
    ReadinessState.FAILED: 3,
}


@dataclass(frozen=True)
class _Applied:
    key: ObjectKey
    readiness: Readiness


def _rollup_readiness(applied: Sequence[_Applied]) -> ops.StatusBase:
    not_ready = [item for item in applied if not item.readiness.ready]
    if not not_ready:
        return ops.ActiveStatus()
    worst = max(not_ready, key=lambda item: _SEVERITY[item.readiness.state])  # first of equals
    message = f'{worst.key}: {worst.readiness.message}'
    if len(not_ready) > 1:
        message += f' (+{len(not_ready) - 1} more not ready)'
    if worst.readiness.state is ReadinessState.FAILED:
        return ops.BlockedStatus(message)
    return ops.WaitingStatus(message)


# --------------------------------------------------------------------------------------------
# Internals: helpers
# --------------------------------------------------------------------------------------------


def _flatten_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    kind = document.get('kind')
    if isinstance(kind, str) and kind.endswith('List') and isinstance(document.get('items'), list):
        items = cast('list[object]', document['items'])
        return [cast('dict[str, Any]', item) for item in items if isinstance(item, dict)]
    return [document]


def _is_builtin_group(group: str) -> bool:
    return group == '' or group.endswith('.k8s.io') or '.' not in group


def _is_crd(key: ObjectKey) -> bool:
    return key.kind == 'CustomResourceDefinition' and key.group == 'apiextensions.k8s.io'


def _shorten(text: str, limit: int = 240) -> str:
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + '…'


def _digest_manifests(manifests: Sequence[_Desired]) -> str:
    payload = json.dumps([m.manifest for m in manifests], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _httpx_module() -> Any:
    """The httpx flavour lightkube uses (httpx2 for lightkube 1.x, httpx before)."""
    from lightkube import ApiError

    base = next(cls for cls in ApiError.__mro__[1:] if cls.__name__ == 'HTTPStatusError')
    return importlib.import_module(base.__module__.split('.')[0])


def _crd_served(manifest: Mapping[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(group, version, kind, plural, namespaced) for each version a CRD manifest serves."""
    spec = _mapping(manifest.get('spec'))
    names = _mapping(spec.get('names'))
    group, kind, plural = (
        str(spec.get('group', '')),
        str(names.get('kind', '')),
        names.get('plural'),
    )
    if not group or not kind or not isinstance(plural, str):
        return []
    namespaced = spec.get('scope', 'Namespaced') == 'Namespaced'
    versions = spec.get('versions')
    result: list[tuple[str, str, str, str, bool]] = []
    if isinstance(versions, list):
        for item in cast('list[object]', versions):
            version = _mapping(item).get('name')
            if isinstance(version, str):
                result.append((group, version, kind, plural, namespaced))
    return result


# --------------------------------------------------------------------------------------------
# Internals: one reconcile or removal against the API server
# --------------------------------------------------------------------------------------------


@dataclass
class _Desired:
    manifest: dict[str, Any]
    key: ObjectKey
    resource: Any  # the lightkube resource class
    entry: InventoryEntry


@dataclass(frozen=True)
class _RunSettings:
    component: str
    app: str
    namespace: str
    field_manager: str
    crd_policy: CrdPolicy
    crd_timeout: float


class _Run:
    """One reconcile (or removal) of a KubernetesResources component."""

    def __init__(self, settings: _RunSettings, get_client: Callable[[], Client]) -> None:
        self.settings = settings
        self.name = settings.component
        self.app = settings.app
        self.namespace = settings.namespace
        self.field_manager = settings.field_manager
        self.inventory_name = inventory_name(settings.app, settings.component)
        self._get_client = get_client
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = self._get_client()
            except Exception as error:
                raise self._as_status(error, 'create a Kubernetes client') from error
        return self._client

    # ---- desired state ---------------------------------------------------------------------

    def desired_objects(self, source: Callable[[], Iterable[Manifest]]) -> list[_Desired]:
        try:
            raws = self._raw_manifests(source())
            custom = self._register_crds(raws)
            desired = [self._resolve(raw) for raw in raws]
        except ManifestError as error:
            logger.error('[%s] invalid desired object: %s', self.name, error)
            raise BlockedError(f'invalid desired object: {error}') from None
        seen: dict[ObjectKey, int] = {}
        for index, item in enumerate(desired):
            if item.key in seen:
                message = f'{item.key} is declared twice (objects {seen[item.key]} and {index})'
                logger.error('[%s] %s', self.name, message)
                raise BlockedError(message)
            seen[item.key] = index
        custom_kinds = frozenset((g, k) for g, _, k, _, _ in custom)
        return [desired[i] for i in order_for_apply([d.key for d in desired], custom_kinds)]

    def _raw_manifests(self, source: Iterable[Manifest]) -> list[dict[str, Any]]:
        raws: list[dict[str, Any]] = []
        for item in source:
            if isinstance(item, str):
                raws.extend(render_yaml(item))
            elif isinstance(item, Mapping):
                raws.append(dict(item))
            else:
                raws.append(_resource_object_to_dict(item))
        for raw in raws:
            check_manifest(raw)
        return raws

    def _register_crds(
        self, raws: Sequence[Mapping[str, Any]]
    ) -> set[tuple[str, str, str, str, bool]]:
        served: set[tuple[str, str, str, str, bool]] = set()
        for raw in raws:
            if (
                raw.get('kind') == 'CustomResourceDefinition'
                and api_group(str(raw.get('apiVersion'))) == 'apiextensions.k8s.io'
            ):
                served.update(_crd_served(raw))
        for group, version, kind, plural, namespaced in served:
            _register_generic_resource(group, version, kind, plural, namespaced=namespaced)
        return served

    def _resolve(self, raw: Mapping[str, Any]) -> _Desired:
        from lightkube.core.exceptions import LoadResourceError
        from lightkube.core.resource import NamespacedResource, api_info

        api_version, kind = str(raw['apiVersion']), str(raw['kind'])
        try:
            resource = _load_resource(api_version, kind)
        except LoadResourceError:
            raise ManifestError(
                f'unknown kind {kind} ({api_version}): declare its CustomResourceDefinition in '
                f'the same set, or register it with lightkube.generic_resource.'
                f'create_namespaced_resource / create_global_resource'
            ) from None
        namespaced = issubclass(resource, NamespacedResource)
        manifest = normalise_manifest(raw, self.namespace, namespaced)
        key = object_key(manifest, namespaced)
        info = api_info(resource)
        entry = InventoryEntry(
            key.group, api_version.rsplit('/', 1)[-1], kind, info.plural, key.namespace, key.name
        )
        return _Desired(manifest, key, resource, entry)

    # ---- reconcile -------------------------------------------------------------------------

    def apply_and_prune(self, desired: Sequence[_Desired]) -> list[_Applied]:
        previous = self._read_inventory()
        previous_by_key = {entry.key: entry for entry in previous}
        desired_entries = [item.entry for item in desired]
        if any(previous_by_key.get(e.key) != e for e in desired_entries):
            # Record new objects before creating them, so a failure cannot leak them.
            union = {**previous_by_key, **{e.key: e for e in desired_entries}}
            self._write_inventory(list(union.values()), previous)
            previous_written = list(union.values())
        else:
            previous_written = previous
        applied, waiting_for_crds = self._apply_all(desired)
        if waiting_for_crds:
            names = ', '.join(sorted(waiting_for_crds))
            raise WaitingError(f'waiting for CRD {names} to be Established before its resources')
        to_delete, kept = prune_plan(
            previous, [item.key for item in desired], self.settings.crd_policy
        )
        for entry in kept:
            logger.info(
                '[%s] %s is no longer declared; kept in the cluster (crd_policy=keep) and '
                'no longer tracked',
                self.name,
                entry.key,
            )
        for entry in to_delete:
            self._delete(entry)
            logger.info('[%s] pruned %s', self.name, entry.key)
        self._write_inventory(desired_entries, previous_written)
        return applied

    def _apply_all(self, desired: Sequence[_Desired]) -> tuple[list[_Applied], set[str]]:
        applied: list[_Applied] = []
        crd_of_kind: dict[tuple[str, str], int] = {}  # (group, kind) -> index in `applied`
        waiting_for: set[str] = set()
        for item in desired:
            crd_index = crd_of_kind.get((item.key.group, item.key.kind))
            if crd_index is not None and not applied[crd_index].readiness.ready:
                crd = applied[crd_index]
                applied[crd_index] = _Applied(crd.key, self._wait_established(crd.key.name))
                if not applied[crd_index].readiness.ready:
                    waiting_for.add(crd.key.name)
                    continue
            readiness = evaluate_readiness(self._apply(item))
            applied.append(_Applied(item.key, readiness))
            if _is_crd(item.key):
                for group, _, kind, _, _ in _crd_served(item.manifest):
                    crd_of_kind[(group, kind)] = len(applied) - 1
        return applied, waiting_for

    def _apply(self, item: _Desired) -> Mapping[str, Any]:
        def call() -> Any:
            return _server_side_apply(
                self.client, item.resource, item.manifest, item.key.namespace, self.field_manager
            )

        live = self._call(call, f'apply {item.key}')
        return cast('Mapping[str, Any]', live.to_dict())

    def _wait_established(self, crd_name: str) -> Readiness:
        """Poll the CRD until Established or `crd_timeout`; return its last readiness."""
        from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

        deadline = time.monotonic() + self.settings.crd_timeout
        while True:
            crd = self._call(
                lambda: self.client.get(CustomResourceDefinition, crd_name),
                f'read CustomResourceDefinition {crd_name}',
            )
            readiness = evaluate_readiness(cast('Mapping[str, Any]', crd.to_dict()))
            if readiness.ready or time.monotonic() >= deadline:
                if not readiness.ready:
                    logger.info('[%s] CRD %s not Established yet', self.name, crd_name)
                return readiness
            time.sleep(0.2)

    # ---- removal ---------------------------------------------------------------------------

    def remove_all(self) -> None:
        previous = self._read_inventory()
        to_delete, kept = prune_plan(previous, (), self.settings.crd_policy)
        for entry in kept:
            logger.info('[%s] keeping %s (crd_policy=keep)', self.name, entry.key)
        remaining = list(to_delete)
        for entry in to_delete:
            try:
                self._delete(entry)
            except StatusError:
                self._write_inventory(remaining, previous)
                raise
            remaining.remove(entry)
            logger.info('[%s] deleted %s', self.name, entry.key)
        self._delete_inventory()

    # ---- API calls -------------------------------------------------------------------------

    def _delete(self, entry: InventoryEntry) -> None:
        resource = _resource_for_entry(entry)
        try:
            self.client.delete(resource, entry.name, namespace=entry.namespace or None)
        except Exception as error:
            if _is_not_found(error):
                return
            raise self._as_status(error, f'delete {entry.key}') from error

    def _read_inventory(self) -> list[InventoryEntry]:
        from lightkube.resources.core_v1 import ConfigMap

        try:
            config_map = self.client.get(ConfigMap, self.inventory_name, namespace=self.namespace)
        except Exception as error:
            if _is_not_found(error):
                return []
            raise self._as_status(
                error, f'read the inventory ConfigMap {self.inventory_name}'
            ) from error
        data = cast('Mapping[str, str]', config_map.data or {})  # pyright: ignore[reportUnknownMemberType]
        try:
            return decode_inventory(data.get('objects', '[]'))
        except ManifestError as error:
            logger.error('[%s] inventory unreadable, starting afresh: %s', self.name, error)
            return []

    def _write_inventory(
        self, entries: Sequence[InventoryEntry], current: Sequence[InventoryEntry]
    ) -> None:
        from lightkube.resources.core_v1 import ConfigMap

        encoded = encode_inventory(entries)
        if encoded == encode_inventory(current):
            return
        body = {
            'apiVersion': 'v1',
            'kind': 'ConfigMap',
            'metadata': {
                'name': self.inventory_name,
                'namespace': self.namespace,
                'labels': {'reconcile-libs.io/inventory': 'true'},
                'annotations': {'reconcile-libs/component': f'{self.app}/{self.name}'},
            },
            'data': {'format': INVENTORY_FORMAT, 'objects': encoded},
        }
        self._call(
            lambda: _server_side_apply(
                self.client, ConfigMap, body, self.namespace, self.field_manager
            ),
            f'write the inventory ConfigMap {self.inventory_name}',
        )

    def _delete_inventory(self) -> None:
        from lightkube.resources.core_v1 import ConfigMap

        try:
            self.client.delete(ConfigMap, self.inventory_name, namespace=self.namespace)
        except Exception as error:
            if not _is_not_found(error):
                raise self._as_status(
                    error, f'delete the inventory {self.inventory_name}'
                ) from error

    def _call(self, call: Callable[[], Any], action: str) -> Any:
        try:
            return call()
        except Exception as error:
            raise self._as_status(error, action) from error

    def _as_status(self, error: Exception, action: str) -> Exception:
        status_error = status_error_for(error, action, self.app)
        if status_error is None:
            return error  # a bug: let the reconciler report and re-raise it
        logger.warning('[%s] %s', self.name, status_error.message)
        return status_error


def _is_not_found(error: Exception) -> bool:
    from lightkube import ApiError

    return isinstance(error, ApiError) and error.status.code == 404


def _resource_object_to_dict(obj: ResourceObject) -> dict[str, Any]:
    from lightkube.core.resource import api_info

    data = cast('dict[str, Any]', obj.to_dict())
    try:
        info = api_info(cast(Any, obj))
    except AttributeError:
        raise ManifestError(f'{type(obj).__name__} is not a lightkube resource object') from None
    data.setdefault('apiVersion', info.resource.api_version)
    data.setdefault('kind', info.resource.kind)
    return data


def _resource_for_entry(entry: InventoryEntry) -> Any:
    from lightkube.core.exceptions import LoadResourceError

    try:
        return _load_resource(entry.api_version, entry.kind)
    except LoadResourceError:
        return _generic_resource(
            entry.group, entry.version, entry.kind, entry.plural, namespaced=bool(entry.namespace)
        )


def _register_generic_resource(
    group: str, version: str, kind: str, plural: str, *, namespaced: bool
) -> None:
    try:
        _generic_resource(group, version, kind, plural, namespaced=namespaced)
    except ValueError:
        # The charm registered this kind itself (e.g. with other verbs); that class is used.
        logger.debug('generic resource %s/%s %s already registered', group, version, kind)


# lightkube adapters: the few lightkube calls whose annotations are incomplete, typed here.


def _load_resource(api_version: str, kind: str) -> Any:
    from lightkube.codecs import resource_registry

    return resource_registry.load(api_version, kind)  # pyright: ignore[reportUnknownMemberType]


def _generic_resource(
    group: str, version: str, kind: str, plural: str, *, namespaced: bool
) -> Any:
    from lightkube import generic_resource as generic

    if namespaced:
        return generic.create_namespaced_resource(group, version, kind, plural)  # pyright: ignore[reportUnknownMemberType]
    return generic.create_global_resource(group, version, kind, plural)  # pyright: ignore[reportUnknownMemberType]


def _server_side_apply(
    client: Client, resource: Any, body: dict[str, Any], namespace: str, field_manager: str
) -> Any:
    from lightkube.types import PatchType

    return client.patch(  # pyright: ignore[reportUnknownMemberType]
        resource,
        str(body['metadata']['name']),
        body,
        namespace=namespace or None,
        patch_type=PatchType.APPLY,
        field_manager=field_manager,
        force=True,
    )
