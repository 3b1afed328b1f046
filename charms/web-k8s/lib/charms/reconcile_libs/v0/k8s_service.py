# Copyright 2026 reconcile-libs contributors
# SPDX-License-Identifier: Apache-2.0

"""The `k8s-service` relation interface, with protocol-version negotiation.

A provider publishes its Kubernetes Service (name, namespace, ports); a requirer receives it as
one typed, canonical `ServiceInfo`, whatever wire version carried it. The two sides negotiate
the wire version in the relation data, so either side can be refreshed or rolled back without
a gap in the data and without spurious events.

## Quick start

Add the relation to `charmcraft.yaml` (the interface name stays `k8s-service`):

```yaml
provides:            # on the provider; `requires:` on the requirer
  k8s-service:
    interface: k8s-service
```

Provider:

```python
import ops
from charms.reconcile_libs.v0.k8s_service import K8sServiceProvider, ServiceInfo, ServicePort

class WebCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.k8s_service = K8sServiceProvider(self, service=self._service)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _service(self) -> ServiceInfo | None:
        return ServiceInfo(
            name=self.app.name,
            namespace=self.model.name,
            ports=(ServicePort(port=int(self.config['port']), name='http', app_protocol='http'),),
        )

    def _on_collect_status(self, event: ops.CollectStatusEvent):
        event.add_status(self.k8s_service.get_status())
```

The provider republishes by itself on every relation event, `leader-elected`, `upgrade-charm`
and `config-changed`; call `publish()` after anything else that changes the service.

Requirer:

```python
import ops
from charms.reconcile_libs.v0.k8s_service import K8sServiceRequirer

class ProxyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.backend = K8sServiceRequirer(self)
        framework.observe(self.backend.on.changed, self._configure)
        framework.observe(self.backend.on.removed, self._configure)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _configure(self, event: ops.EventBase):
        service = self.backend.service()          # ServiceInfo | None (single relation)
        if service is not None:
            upstream = f'{service.host()}:{service.port("http")}'
            ...

    def _on_collect_status(self, event: ops.CollectStatusEvent):
        event.add_status(self.backend.get_status())
```

`services()` returns `{relation_id: ServiceInfo}` for every relation with usable data.

## With the reconciler

`K8sServiceProviderComponent` and `K8sServiceRequirerComponent` wrap the objects above as
`charms.reconcile_libs.v0.reconciler` components (this library imports that one, so fetch both).
Create the provider/requirer with `observe=False`, so the reconciler is the only trigger. The
provider component takes the service from the reconcile context (e.g. a config component's output);
while that is None, it still advertises its versions, withdraws any payload published before
(`K8sServiceProvider.withdraw()`) and reports Waiting. The requirer component's output is the list
of `ServiceInfo` received, ordered by relation id; it raises `WaitingError` (or `BlockedError`)
while there is none, so its dependents run only with data. With no relation at all it blocks with
the `juju integrate` remedy, unless created with `required=False` (then its output is an empty
list).

```python
import dataclasses

import ops
from charms.reconcile_libs.v0.k8s_service import (
    K8sServiceProvider, K8sServiceProviderComponent,
    K8sServiceRequirer, K8sServiceRequirerComponent, ServiceInfo, ServicePort,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler, ConfigComponent

@dataclasses.dataclass(frozen=True)
class WebConfig:
    port: int = 8080

class WebCharm(ops.CharmBase):                        # the provider
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        config = self.reconciler.add(ConfigComponent(WebConfig))
        self.k8s_service = K8sServiceProvider(self, observe=False)
        self.reconciler.add(
            K8sServiceProviderComponent(
                self.k8s_service,
                lambda ctx: ServiceInfo(self.app.name, self.model.name,
                                        (ServicePort(ctx.output_of(config).port, 'http'),)),
            ),
            depends_on=[config],
        )

class ProxyCharm(ops.CharmBase):                      # the requirer
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.backend = K8sServiceRequirer(self, observe=False)
        backend = self.reconciler.add(K8sServiceRequirerComponent(self.backend))
        # Components added with depends_on=[backend] read ctx.output_of(backend)[0].host()
        # and .port('http').
```

## Events (requirer, per unit)

- `changed`: the canonical data of a relation differs from what this unit last saw. A switch
  of wire version that carries the same data emits nothing.
- `removed`: the data went away (relation broken, provider withdrew or sent invalid data).
  With `observe=False`, the reconcile in the `relation-broken` hook emits it (ops no longer
  lists the broken relation; its remembered fingerprint is dropped then).
- `incompatible`: the two applications' advertised version sets are disjoint (leader unit,
  which can see both advertisements). The provider also has `on.incompatible`.

Each unit remembers a fingerprint of what it last saw in unit-local `StoredState` (never in
relation data). Nothing is emitted from `__init__`.

It also keeps there, per relation, a digest of the last remote payload it validated and what it
decoded to: while the provider's bytes stay the same, a hook rebuilds the `ServiceInfo` from that
and neither validates again nor imports pydantic. New bytes are validated (pydantic, the schema
of record) as always, and invalid data is never remembered. The provider checks its own Service
with plain Python (the same rules as the wire models) and loads pydantic only to describe a
Service that fails them.

## Statuses

`get_status()` returns the worst relation's status (prefixed with the endpoint name, and
followed by `(and N more relations)` when others are not ready either):

- `Waiting`: `<app>` has not advertised protocol versions yet; no service info yet; `<app>`
  has not confirmed the negotiated version; this unit's code cannot read what `<app>` speaks
  (mid rolling refresh); the provider charm has no service to publish yet.
- `Blocked`: no common protocol version, naming both sets and which app to refresh;
  invalid data, naming the wire version and the field path (e.g. `v2: ports[0].port: ...`);
  an invalid service handed to the provider; a legacy SDI peer when SDI publishing is off.
- `Active` otherwise. "Not yet" is never Blocked. Bad remote data never raises; it is
  logged (WARNING) once per transition.

A requirer with no relation at all reports `Waiting` from `get_status()`; the reconciler
component `K8sServiceRequirerComponent` reports `Blocked` with the `juju integrate` remedy
instead (a missing relation needs an operator), unless created with `required=False`.

The no-overlap Blocked status comes from the leader, the only unit that sees both advertised
sets; the other units report Waiting (their own code may differ mid-refresh). A requirer with
no relation at all is Waiting ("waiting for a k8s-service relation").

Only the leader writes application data; on other units the writing steps do nothing.

## Wire format (the provider's and requirer's application databags)

| key | who | value |
|---|---|---|
| `versions` | both leaders | JSON sorted list of ints this app advertises, e.g. `[1,2]` |
| `version` | both leaders | JSON int, the highest common version, once both sets are known |
| `v<N>` | provider leader | JSON payload at wire version N, one key per published version |

Payloads (canonical JSON: sorted keys, no spaces):

- `v1`: `{"name":"web","namespace":"shop","port":8080}` (one port; a v1 reader sees the first
  port of the service in canonical order, TCP);
- `v2`: `{"name":"web","namespace":"shop","ports":[{"app_protocol":"http","name":"http",
  "port":8080,"protocol":"TCP"}]}`; `protocol` is `TCP`, `UDP` or `SCTP`.

Before the provider knows the requirer's set it publishes every version it supports, so the
requirer has data after 2 hook rounds; once both sets are known it publishes every common
version (a bridge for rolling refreshes) and deletes every other `v<N>` key. Readers take the
highest `v<N>` that the remote currently advertises and their own code can read.

Version 0 means the legacy dialects deployed today, which the requirer reads when the provider
advertises no `versions`: SDI (`_supported_versions` plus a YAML `data` mapping with
`service-name`/`service-port`), mlops-libs (`name`/`port`) and the flat spec
(`service-name`/`service-port`); `service-name` may be `<name>.<namespace>[.svc...]`. The
provider writes those keys too when asked: `legacy_dialects=['sdi', 'mlops', 'flat']`. Facing
an SDI provider, the requirer leader also writes `_supported_versions: "- v1"`, without which
SDI never sends its data.

Validation: names are DNS-1123 labels, ports 1-65535, at most 64 ports, each payload at most
16 KiB. Never skip more than one wire version in a single refresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import ops
from charms.reconcile_libs.v0.reconciler import (
    BlockedError,
    Component,
    ReconcileContext,
    WaitingError,
)

if TYPE_CHECKING:
    import pydantic

# The unique Charmhub library identifier, never change it
LIBID = 'b0487c6b71364f77a49cb20e106526da'

# Increment this major API version when introducing breaking changes
LIBAPI = 0

# Increment this PATCH version before using `charmcraft publish-lib` or reset
# to 0 if you are raising the major API version
LIBPATCH = 1

PYDEPS = ['pydantic>=2,<3']

__all__ = [
    'DEFAULT_RELATION_NAME',
    'INTERFACE_NAME',
    'LEGACY_DIALECTS',
    'LEGACY_VERSION',
    'MAX_PAYLOAD_BYTES',
    'SUPPORTED_VERSIONS',
    'Advertisement',
    'InvalidDataError',
    'K8sServiceChangedEvent',
    'K8sServiceIncompatibleEvent',
    'K8sServiceProvider',
    'K8sServiceProviderComponent',
    'K8sServiceProviderEvents',
    'K8sServiceRemovedEvent',
    'K8sServiceRequirer',
    'K8sServiceRequirerComponent',
    'K8sServiceRequirerEvents',
    'Problem',
    'ReaderResult',
    'ServiceInfo',
    'ServicePort',
    'StatusInfo',
    'ValidatedPayload',
    'bag_changes',
    'canonical_json',
    'decode_legacy',
    'decode_payload',
    'encode_legacy',
    'encode_payload',
    'incompatible_message',
    'leader_step',
    'provider_status',
    'read_advertisement',
    'reader_step',
    'requirer_legacy_keys',
    'select_version',
    'validate_service',
]

logger = logging.getLogger(__name__)

INTERFACE_NAME = 'k8s-service'
DEFAULT_RELATION_NAME = 'k8s-service'
SUPPORTED_VERSIONS: frozenset[int] = frozenset({1, 2})
"""Wire versions this library can write and read (besides the legacy version 0)."""
LEGACY_VERSION = 0
LEGACY_DIALECTS: tuple[str, ...] = ('sdi', 'mlops', 'flat')
MAX_PAYLOAD_BYTES = 16384
"""Upper bound of one encoded payload (and of any remote value this library parses)."""
MAX_PORTS = 64
MAX_ADVERTISED_VERSIONS = 64

_DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
_VERSION_KEY = re.compile(r'^v(0|[1-9][0-9]*)$')
_LEGACY_KEYS = ('_supported_versions', 'data', 'name', 'port', 'service-name', 'service-port')
_INCOMPATIBLE = 'incompatible'

StatusName = Literal['active', 'waiting', 'blocked']


# ---------------------------------------------------------------------------------------------
# Canonical model (what charm code sees)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServicePort:
    """One port of a Kubernetes Service.

    Attributes:
        port: the Service port, 1-65535.
        name: the port's name (a DNS-1123 label), if any.
        protocol: `TCP`, `UDP` or `SCTP`.
        app_protocol: the application protocol (e.g. `http`, `kubernetes.io/h2c`), if any.
    """

    port: int
    name: str | None = None
    protocol: str = 'TCP'
    app_protocol: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Canonical dict form: fields that are `None` are left out."""
        out: dict[str, Any] = {'port': self.port, 'protocol': self.protocol}
        if self.name is not None:
            out['name'] = self.name
        if self.app_protocol is not None:
            out['app_protocol'] = self.app_protocol
        return out


def _port_sort_key(port: ServicePort) -> tuple[str, int, str, str]:
    return (port.name or '', port.port, port.protocol, port.app_protocol or '')


@dataclass(frozen=True)
class ServiceInfo:
    """The canonical description of a Kubernetes Service, whatever wire version carried it.

    Ports are kept in canonical order (by name, then port number), so two `ServiceInfo` built
    from the same ports in a different order are equal and serialize to the same bytes.

    Attributes:
        name: the Service name (a DNS-1123 label).
        namespace: the Service's namespace; `None` only when a legacy peer did not send one.
        ports: the Service's ports.
    """

    name: str
    namespace: str | None
    ports: Sequence[ServicePort] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, 'ports', tuple(sorted(self.ports, key=_port_sort_key)))

    def host(self) -> str:
        """The in-cluster host name: `<name>.<namespace>.svc`, or `<name>` without namespace."""
        return f'{self.name}.{self.namespace}.svc' if self.namespace else self.name

    def port(self, name: str | None = None) -> int | None:
        """The number of the port called `name`, or of the first port when `name` is None."""
        for port in self.ports:
            if name is None or port.name == name:
                return port.port
        return None

    def to_dict(self) -> dict[str, Any]:
        """Canonical dict form (the input of the fingerprint)."""
        out: dict[str, Any] = {'name': self.name, 'ports': [p.to_dict() for p in self.ports]}
        if self.namespace is not None:
            out['namespace'] = self.namespace
        return out

    def fingerprint(self) -> str:
        """A version-independent fingerprint of the data (sha256 of its canonical JSON)."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Why some data is invalid.

    Attributes:
        field: the path of the bad field, e.g. `v2: ports[0].port` or `versions`.
        message: what is wrong with it.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f'{self.field}: {self.message}'


class InvalidDataError(ValueError):
    """Relation data (or a service to publish) that does not validate."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class StatusInfo:
    """A status, independent of ops (the pure core returns these).

    Attributes:
        name: `active`, `waiting` or `blocked`.
        message: the message, without the endpoint prefix.
    """

    name: StatusName
    message: str = ''

    def to_ops(self, prefix: str = '') -> ops.StatusBase:
        """The matching ops status, with `prefix` before a non-empty message."""
        message = f'{prefix}{self.message}' if self.message else ''
        if self.name == 'blocked':
            return ops.BlockedStatus(message)
        if self.name == 'waiting':
            return ops.WaitingStatus(message)
        return ops.ActiveStatus(message)


_SEVERITY: dict[str, int] = {'active': 0, 'waiting': 1, 'blocked': 2}


def _worst(statuses: Iterable[StatusInfo]) -> StatusInfo:
    """The worst status (the first of equals), saying how many other relations are not ready."""
    worst = StatusInfo('active')
    not_ready = 0
    for status in statuses:
        if status.name != 'active':
            not_ready += 1
        if _SEVERITY[status.name] > _SEVERITY[worst.name]:
            worst = status
    if not_ready > 1:
        others = not_ready - 1
        suffix = f' (and {others} more relation{"s" if others > 1 else ""})'
        return StatusInfo(worst.name, worst.message + suffix)
    return worst


# ---------------------------------------------------------------------------------------------
# Serialization and wire models
# ---------------------------------------------------------------------------------------------


def canonical_json(value: object) -> str:
    """Canonical JSON: sorted keys, compact separators, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'))


def _format_versions(versions: Iterable[int]) -> str:
    items = sorted(versions)
    return ', '.join(f'v{v}' for v in items) if items else 'none'


def _format_loc(loc: Iterable[int | str]) -> str:
    out = ''
    for part in loc:
        if isinstance(part, int):
            out += f'[{part}]'
        else:
            out += f'.{part}' if out else part
    return out or '(payload)'


@dataclass(frozen=True)
class _WireModels:
    by_version: Mapping[int, type[pydantic.BaseModel]]
    legacy: type[pydantic.BaseModel]
    validation_error: type[pydantic.ValidationError]


@functools.cache
def _wire_models() -> _WireModels:
    """Build the pydantic models on first use, so importing this library stays cheap."""
    import pydantic

    dns = _DNS_LABEL.pattern
    app_protocol_pattern = r'^[A-Za-z0-9][-A-Za-z0-9_./]*$'
    strict = pydantic.ConfigDict(strict=True, extra='ignore', frozen=True)

    class PortV2(pydantic.BaseModel):
        model_config = strict
        port: int = pydantic.Field(ge=1, le=65535)
        name: str | None = pydantic.Field(default=None, pattern=dns)
        protocol: Literal['TCP', 'UDP', 'SCTP'] = 'TCP'
        app_protocol: str | None = pydantic.Field(
            default=None, pattern=app_protocol_pattern, max_length=253
        )

    class PayloadV1(pydantic.BaseModel):
        model_config = strict
        name: str = pydantic.Field(pattern=dns)
        namespace: str = pydantic.Field(pattern=dns)
        port: int = pydantic.Field(ge=1, le=65535)

    class PayloadV2(pydantic.BaseModel):
        model_config = strict
        name: str = pydantic.Field(pattern=dns)
        namespace: str = pydantic.Field(pattern=dns)
        ports: list[PortV2] = pydantic.Field(min_length=1, max_length=MAX_PORTS)

        @pydantic.field_validator('ports')
        @classmethod
        def _unique_ports(cls, ports: list[PortV2]) -> list[PortV2]:
            seen: set[tuple[int, str]] = set()
            names: set[str] = set()
            for port in ports:
                if (port.port, port.protocol) in seen:
                    raise ValueError(f'duplicate port {port.port}/{port.protocol}')
                if port.name is not None and port.name in names:
                    raise ValueError(f'duplicate port name {port.name!r}')
                seen.add((port.port, port.protocol))
                if port.name is not None:
                    names.add(port.name)
            return ports

    class LegacyPayload(pydantic.BaseModel):
        # Legacy dialects carry raw strings: lax mode turns '8080' into 8080.
        model_config = pydantic.ConfigDict(extra='ignore', frozen=True)
        name: str = pydantic.Field(pattern=dns)
        namespace: str | None = pydantic.Field(default=None, pattern=dns)
        port: int = pydantic.Field(ge=1, le=65535)

    return _WireModels(
        by_version={1: PayloadV1, 2: PayloadV2},
        legacy=LegacyPayload,
        validation_error=pydantic.ValidationError,
    )


def _first_problem(error: pydantic.ValidationError, prefix: str) -> Problem:
    first = error.errors(include_url=False)[0]
    if first['type'] == 'json_invalid':
        return Problem(prefix, 'not valid JSON')
    message = first['msg']
    if first['type'] == 'string_pattern_mismatch' and 'app_protocol' not in first['loc']:
        message = "not a DNS-1123 label (a-z, 0-9 and '-', at most 63 characters)"
    path = _format_loc(first['loc'])
    return Problem(f'{prefix}: {path}' if prefix else path, message)


def _project(service: ServiceInfo, version: int) -> dict[str, Any]:
    """The wire payload of `service` at `version` (v1 keeps the first port only)."""
    if version == 1:
        first = service.ports[0] if service.ports else None
        return {
            'name': service.name,
            'namespace': service.namespace,
            'port': first.port if first else None,
        }
    if version == 2:
        return {
            'name': service.name,
            'namespace': service.namespace,
            'ports': [p.to_dict() for p in service.ports],
        }
    raise ValueError(f'k8s-service: no wire version {version}; this library knows v1 and v2')


def _up_convert(version: int, data: Mapping[str, Any]) -> ServiceInfo:
    if version == 1:
        return ServiceInfo(data['name'], data['namespace'], (ServicePort(port=data['port']),))
    ports = tuple(
        ServicePort(
            port=p['port'], name=p['name'], protocol=p['protocol'], app_protocol=p['app_protocol']
        )
        for p in data['ports']
    )
    return ServiceInfo(data['name'], data['namespace'], ports)


_APP_PROTOCOL = re.compile(r'[A-Za-z0-9][-A-Za-z0-9_./]*')
_MAX_APP_PROTOCOL_LENGTH = 253
_PROTOCOLS = ('TCP', 'UDP', 'SCTP')


def _is_label(value: object) -> bool:
    return type(value) is str and _DNS_LABEL.fullmatch(value) is not None


def _is_port_number(value: object) -> bool:
    return type(value) is int and 1 <= value <= 65535


def _is_app_protocol(value: object) -> bool:
    return (
        type(value) is str
        and len(value) <= _MAX_APP_PROTOCOL_LENGTH
        and _APP_PROTOCOL.fullmatch(value) is not None
    )


def _port_conforms(port: object) -> bool:
    if type(port) is not dict:
        return False
    fields = cast('dict[str, object]', port)
    name = fields.get('name')
    app_protocol = fields.get('app_protocol')
    protocol = fields.get('protocol', 'TCP')
    return (
        _is_port_number(fields.get('port'))
        and (name is None or _is_label(name))
        and type(protocol) is str
        and protocol in _PROTOCOLS
        and (app_protocol is None or _is_app_protocol(app_protocol))
    )


def _ports_conform(ports: object) -> bool:
    if type(ports) is not list:
        return False
    items = cast('list[object]', ports)
    if not 1 <= len(items) <= MAX_PORTS or not all(_port_conforms(p) for p in items):
        return False
    fields = [cast('dict[str, Any]', p) for p in items]
    numbers = {(p['port'], p.get('protocol', 'TCP')) for p in fields}
    names = [p['name'] for p in fields if p.get('name') is not None]
    return len(numbers) == len(fields) and len(set(names)) == len(names)


def _conforms(payload: Mapping[str, object], version: int) -> bool:
    """Whether the pydantic wire model of `version` would accept `payload`, without pydantic.

    The same rules as `_wire_models()` (strict types, DNS-1123 labels, port range, protocols,
    app protocols, 1 to MAX_PORTS unique ports), so publishing our own valid Service never
    loads pydantic. It is conservative: an input of an unusual type (an `int` or `str`
    subclass) is left to pydantic. tests/unit/test_k8s_service_pure_validation.py checks that
    both accept and reject the same inputs.
    """
    if not (_is_label(payload.get('name')) and _is_label(payload.get('namespace'))):
        return False
    if version == 1:
        return _is_port_number(payload.get('port'))
    return _ports_conform(payload.get('ports'))


def _model_problem(payload: Mapping[str, object], version: int) -> Problem | None:
    """The first problem the pydantic wire model of `version` finds in `payload`, if any."""
    models = _wire_models()
    try:
        models.by_version[version].model_validate(payload)
    except models.validation_error as e:
        return _first_problem(e, f'v{version}')
    return None


def encode_payload(service: ServiceInfo, version: int) -> str:
    """Encode `service` as the canonical JSON payload of wire `version` (1 or 2).

    Raises:
        InvalidDataError: the service does not validate at that version.
        ValueError: `version` is not a wire version this library knows.
    """
    payload = _project(service, version)
    if not _conforms(payload, version):
        # Only now load pydantic (the schema of record), for its exact field path and message.
        problem = _model_problem(payload, version)
        if problem is not None:
            raise InvalidDataError(problem)
    encoded = canonical_json(payload)
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise InvalidDataError(
            Problem(f'v{version}', f'payload of {len(encoded)} bytes > {MAX_PAYLOAD_BYTES}')
        )
    return encoded


@functools.lru_cache(maxsize=256)
def decode_payload(raw: str, version: int) -> ServiceInfo:
    """Decode and up-convert a `v<version>` payload into the canonical `ServiceInfo`.

    Raises:
        InvalidDataError: the payload is too large, not JSON, or does not validate.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidDataError(
            Problem(f'v{version}', f'payload of {len(raw)} bytes > {MAX_PAYLOAD_BYTES}')
        )
    models = _wire_models()
    try:
        model = models.by_version[version].model_validate_json(raw)
    except models.validation_error as e:
        raise InvalidDataError(_first_problem(e, f'v{version}')) from None
    return _up_convert(version, model.model_dump())


def validate_service(service: ServiceInfo, versions: Iterable[int]) -> Problem | None:
    """The first problem that stops `service` being published at any of `versions`, if any."""
    try:
        for version in sorted(versions):
            encode_payload(service, version)
    except InvalidDataError as e:
        return e.problem
    return None


# ---------------------------------------------------------------------------------------------
# Legacy dialects (wire version 0)
# ---------------------------------------------------------------------------------------------


def _legacy_dialect(bag: Mapping[str, str]) -> str | None:
    if '_supported_versions' in bag:
        return 'sdi'
    if 'name' in bag and 'port' in bag:
        return 'mlops'
    if 'service-name' in bag:
        return 'flat'
    return None


def _split_legacy_name(name: object) -> tuple[object, object]:
    if isinstance(name, str) and '.' in name:
        parts = name.split('.')
        return parts[0], parts[1]
    return name, None


_MAX_LEGACY_FLOW_DEPTH = 32


def _flow_depth(raw: str) -> int:
    """An upper bound of the flow-collection nesting in YAML text (quotes are not skipped)."""
    if '[' not in raw and '{' not in raw:
        return 0
    depth = deepest = 0
    for char in raw:
        if char in '[{':
            depth += 1
            deepest = max(deepest, depth)
        elif char in ']}' and depth:
            depth -= 1
    return deepest


def _legacy_fields(bag: Mapping[str, str], dialect: str) -> tuple[object, object, str]:
    """The raw name and port of a legacy bag, and the prefix of their wire field paths."""
    if dialect == 'mlops':
        return bag.get('name'), bag.get('port'), ''
    if dialect == 'flat':
        return bag.get('service-name'), bag.get('service-port'), 'service-'
    raw = bag.get('data')
    if raw is None:
        raise InvalidDataError(Problem('data', 'missing (SDI peer without data yet)'))
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidDataError(Problem('data', f'{len(raw)} bytes > {MAX_PAYLOAD_BYTES}'))
    if _flow_depth(raw) > _MAX_LEGACY_FLOW_DEPTH:
        # PyYAML's scanner is quadratic in flow nesting: 16 KiB of '[' costs seconds per hook
        raise InvalidDataError(Problem('data', 'YAML nested too deeply'))
    import yaml

    try:
        loaded: object = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise InvalidDataError(Problem('data', 'not valid YAML')) from None
    except RecursionError:
        raise InvalidDataError(Problem('data', 'YAML nested too deeply')) from None
    except (ValueError, OverflowError):
        # e.g. an integer with more digits than int() accepts, or an impossible timestamp
        raise InvalidDataError(Problem('data', 'YAML has an out-of-range value')) from None
    if not isinstance(loaded, dict):
        raise InvalidDataError(Problem('data', 'not a YAML mapping'))
    data = cast('dict[object, object]', loaded)
    return data.get('service-name'), data.get('service-port'), 'data.service-'


def decode_legacy(bag: Mapping[str, str]) -> ServiceInfo | None:
    """Decode a legacy (version 0) provider bag, or None when it is in no legacy dialect.

    Raises:
        InvalidDataError: the bag is in a legacy dialect but its values do not validate.
    """
    dialect = _legacy_dialect(bag)
    if dialect is None:
        return None
    raw_name, port, prefix = _legacy_fields(bag, dialect)
    name, namespace = _split_legacy_name(raw_name)
    if isinstance(port, str) and len(port) > 16:
        raise InvalidDataError(Problem(f'{prefix}port', 'not a port number'))
    models = _wire_models()
    try:
        model = models.legacy.model_validate({'name': name, 'namespace': namespace, 'port': port})
    except models.validation_error as e:
        problem = _first_problem(e, '')
        field = 'name' if problem.field == 'namespace' else problem.field
        raise InvalidDataError(Problem(f'{prefix}{field}', problem.message)) from None
    data = model.model_dump()
    return ServiceInfo(data['name'], data['namespace'], (ServicePort(port=data['port']),))


def encode_legacy(service: ServiceInfo, dialects: Iterable[str]) -> dict[str, str]:
    """The legacy keys that let peers speaking `dialects` read `service`.

    Raises:
        ValueError: an unknown dialect name.
    """
    out: dict[str, str] = {}
    port = str(service.ports[0].port) if service.ports else ''
    full_name = f'{service.name}.{service.namespace}' if service.namespace else service.name
    for dialect in sorted(set(dialects)):
        if dialect == 'sdi':
            out['_supported_versions'] = '- v1\n'
            out['data'] = f"service-name: {full_name}\nservice-port: '{port}'\n"
        elif dialect == 'mlops':
            out['name'] = service.name
            out['port'] = port
        elif dialect == 'flat':
            out['service-name'] = full_name
            out['service-port'] = port
        else:
            raise ValueError(
                f'k8s-service: unknown legacy dialect {dialect!r}; choose from {LEGACY_DIALECTS}'
            )
    return out


# ---------------------------------------------------------------------------------------------
# The protocol core: pure functions over plain dicts
# ---------------------------------------------------------------------------------------------


def select_version(a: Iterable[int], b: Iterable[int]) -> int | None:
    """The highest version in both sets, or None: symmetric and deterministic."""
    common = set(a) & set(b)
    return max(common) if common else None


@dataclass(frozen=True)
class Advertisement:
    """What a remote application bag says about the protocol it speaks.

    Attributes:
        kind: `none` (nothing said yet), `modern` (a `versions` key), `legacy` (a legacy dialect,
            version 0) or `invalid` (a `versions` key that does not parse).
        versions: the advertised versions (`{0}` for legacy, empty otherwise when not modern).
        version: the remote's echoed choice (`version` key), if any and valid.
        dialect: the legacy dialect, for `legacy`.
        problem: why the advertisement is invalid, for `invalid`.
    """

    kind: Literal['none', 'modern', 'legacy', 'invalid']
    versions: frozenset[int] = frozenset()
    version: int | None = None
    dialect: str | None = None
    problem: Problem | None = None


def _parse_versions(raw: str) -> frozenset[int]:
    if len(raw) > 1024:
        raise InvalidDataError(Problem('versions', f'{len(raw)} bytes, too long'))
    try:
        value: object = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidDataError(Problem('versions', 'not valid JSON')) from None
    if not isinstance(value, list):
        raise InvalidDataError(Problem('versions', 'not a JSON list of integers'))
    items = cast('list[object]', value)
    if not items or len(items) > MAX_ADVERTISED_VERSIONS:
        raise InvalidDataError(Problem('versions', f'needs 1 to {MAX_ADVERTISED_VERSIONS} items'))
    versions: set[int] = set()
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise InvalidDataError(Problem(f'versions[{index}]', 'not a positive integer'))
        versions.add(item)
    return frozenset(versions)


def _parse_echo(raw: str | None) -> int | None:
    if raw is None or len(raw) > 16:
        return None
    try:
        value: object = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_advertisement(bag: Mapping[str, str]) -> Advertisement:
    """Parse the advertisement in a remote application bag; never raises on bad data."""
    raw = bag.get('versions')
    if raw is not None:
        try:
            versions = _parse_versions(raw)
        except InvalidDataError as e:
            return Advertisement('invalid', problem=e.problem)
        return Advertisement('modern', versions, version=_parse_echo(bag.get('version')))
    dialect = _legacy_dialect(bag)
    if dialect is not None:
        return Advertisement('legacy', frozenset({LEGACY_VERSION}), dialect=dialect)
    return Advertisement('none')


def _is_managed(key: str, legacy_managed: bool) -> bool:
    if key in ('versions', 'version') or _VERSION_KEY.match(key):
        return True
    return legacy_managed and key in _LEGACY_KEYS


def leader_step(
    advertised: Iterable[int],
    own_bag: Mapping[str, str],
    remote_bag: Mapping[str, str],
    payloads: Mapping[int, str] | None = None,
    legacy: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """One leader step: the desired content of this application's bag.

    Args:
        advertised: the versions this application advertises (positive ints).
        own_bag: this application's bag now (keys the protocol does not manage are kept).
        remote_bag: the remote application's bag now.
        payloads: encoded payload per version (the provider; None on the requirer or while the
            provider has no valid service).
        legacy: legacy keys to publish (provider with legacy publishing); None when the provider
            publishes no legacy dialect, in which case legacy-named keys are left alone.

    Returns:
        The new bag. It is a pure function of its inputs and idempotent:
        `leader_step(a, leader_step(a, o, r, p, l), r, p, l) == leader_step(a, o, r, p, l)`.
    """
    local = frozenset(advertised)
    new = {k: v for k, v in own_bag.items() if not _is_managed(k, legacy is not None)}
    new['versions'] = canonical_json(sorted(local))
    remote = read_advertisement(remote_bag)
    if remote.kind == 'modern':
        chosen = select_version(local, remote.versions)
        publish = local & remote.versions
        if chosen is not None:
            new['version'] = canonical_json(chosen)
    else:
        # Nothing (usable) advertised yet, or a legacy peer: publish everything optimistically.
        publish = local
    for version in sorted(publish):
        if payloads is not None and version in payloads:
            new[f'v{version}'] = payloads[version]
    if legacy:
        new.update(legacy)
    return new


def bag_changes(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """The update that turns `old` into `new`: changed keys, and '' for each deleted key."""
    changes = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: '' for k in old if k not in new})
    return changes


@dataclass(frozen=True)
class ReaderResult:
    """What one requirer unit makes of the remote bag.

    Attributes:
        service: the canonical data, or None.
        version: the wire version it was read at (0 for legacy), or None.
        token: what to remember for change detection: `data:<fingerprint>`, `incompatible`,
            `blocked:<digest of the message>` or None.
        events: the events to emit, in order (`removed`, `changed`, `incompatible`).
        status: this relation's status.
        validated: what to remember (unit-locally) about the payload that yielded `service`,
            so the next step can skip validating the same bytes again; None without service.
    """

    service: ServiceInfo | None
    version: int | None
    token: str | None
    events: tuple[str, ...]
    status: StatusInfo
    validated: ValidatedPayload | None = None


@dataclass(frozen=True)
class ValidatedPayload:
    """A remote payload that this unit validated in an earlier step, and what it decoded to.

    When the remote bag carries the same bytes again, `reader_step` rebuilds the `ServiceInfo`
    from `service_json` with plain constructors instead of validating (and loading pydantic)
    again. Keep it unit-locally (the requirer keeps it in its `StoredState`), never in
    relation data: it is only as trustworthy as the place it is kept.

    Attributes:
        digest: sha256 of the raw input (the `v<N>` value, or the legacy keys), of its wire
            version and of this library's revision (so new validation rules apply at once).
        service_json: the canonical JSON of the `ServiceInfo` it decoded to.
    """

    digest: str
    service_json: str


def _transition(last: str | None, token: str | None) -> tuple[str, ...]:
    events: list[str] = []
    had_data = last is not None and last.startswith('data:')
    if token is not None and token.startswith('data:'):
        if token != last:
            events.append('changed')
    elif had_data:
        events.append('removed')
    if token == _INCOMPATIBLE and last != _INCOMPATIBLE:
        events.append('incompatible')
    return tuple(events)


def _result(
    last: str | None,
    status: StatusInfo,
    service: ServiceInfo | None = None,
    version: int | None = None,
    token: str | None = None,
    validated: ValidatedPayload | None = None,
) -> ReaderResult:
    if service is not None:
        token = f'data:{service.fingerprint()}'
    elif token is None and status.name == 'blocked':
        # Remember which problem was seen, so it is logged once per transition.
        token = f'blocked:{hashlib.sha256(status.message.encode()).hexdigest()[:16]}'
    return ReaderResult(service, version, token, _transition(last, token), status, validated)


_VALIDATED_BY = f'charms.reconcile_libs.v{LIBAPI}.k8s_service {LIBAPI}.{LIBPATCH}'


def _input_digest(version: int, raw: str) -> str:
    """The digest of a raw remote input at `version`, as validated by this library revision."""
    text = f'{_VALIDATED_BY}\0v{version}\0{raw}'
    return hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()


def _service_from_json(text: str) -> ServiceInfo | None:
    """Rebuild the `ServiceInfo` whose canonical JSON is `text`; None if `text` is not one."""
    try:
        data = json.loads(text)
        ports = tuple(
            ServicePort(
                port=p['port'],
                name=p.get('name'),
                protocol=p['protocol'],
                app_protocol=p.get('app_protocol'),
            )
            for p in data['ports']
        )
        service = ServiceInfo(data['name'], data.get('namespace'), ports)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return service if canonical_json(service.to_dict()) == text else None


def _decode_once(
    digest: str,
    remembered: ValidatedPayload | None,
    decode: Callable[[], ServiceInfo | None],
) -> tuple[ServiceInfo | None, ValidatedPayload | None]:
    """The service of the input with `digest`, reusing `remembered` when it is that input.

    Anything else goes through `decode` (pydantic); its `InvalidDataError` propagates, and
    invalid input is never remembered.
    """
    if remembered is not None and remembered.digest == digest:
        service = _service_from_json(remembered.service_json)
        if service is not None:
            return service, remembered
    service = decode()
    if service is None:
        return None, None
    return service, ValidatedPayload(digest, canonical_json(service.to_dict()))


def incompatible_message(
    local_app: str, local: Iterable[int], remote_app: str, remote: Iterable[int]
) -> str:
    """The Blocked message for disjoint version sets, naming both sets and the remedy."""
    local_set, remote_set = sorted(local), sorted(remote)
    if local_set and remote_set and max(local_set) > max(remote_set):
        older, newer, newer_set, older_set = remote_app, local_app, local_set, remote_set
    else:
        older, newer, newer_set, older_set = local_app, remote_app, remote_set, local_set
    return (
        f'no common protocol with {remote_app} ({local_app}: {_format_versions(local_set)}; '
        f'{remote_app}: {_format_versions(remote_set)}); refresh {older} to a revision '
        f'supporting v{min(newer_set) if newer_set else "?"}, or {newer} to one supporting '
        f'v{max(older_set) if older_set else "?"}'
    )


def reader_step(
    code_versions: Iterable[int],
    remote_bag: Mapping[str, str],
    last_token: str | None,
    *,
    own_advertised: Iterable[int] | None = None,
    remote_app: str = 'remote',
    local_app: str = 'local',
    remembered: ValidatedPayload | None = None,
) -> ReaderResult:
    """One requirer-unit step: decode the best payload this unit can read and detect changes.

    Args:
        code_versions: the wire versions this unit's code reads (0 = the legacy dialects).
        remote_bag: the provider application's bag.
        last_token: the token this unit remembered from its previous step on this relation.
        own_advertised: this application's advertised set when known (the leader), else None.
        remote_app: the provider application's name (for messages).
        local_app: this application's name (for messages).
        remembered: the `validated` of this unit's previous result on this relation, if any:
            when the payload to read is byte-identical to that one, it is not validated again.

    Never raises on bad remote data: it becomes a Blocked status naming the field.
    """
    code = frozenset(code_versions)
    remote = read_advertisement(remote_bag)
    if remote.kind == 'invalid':
        assert remote.problem is not None
        return _result(last_token, StatusInfo('blocked', _invalid(remote_app, remote.problem)))
    if remote.kind == 'none':
        return _result(
            last_token,
            StatusInfo('waiting', f'waiting for {remote_app} to advertise protocol versions'),
        )
    if remote.kind == 'legacy':
        return _legacy_reader(code, remote_bag, last_token, remote_app, remembered)
    if own_advertised is not None and not (frozenset(own_advertised) & remote.versions):
        message = incompatible_message(local_app, own_advertised, remote_app, remote.versions)
        return _result(last_token, StatusInfo('blocked', message), token=_INCOMPATIBLE)
    candidates = [
        n for n in remote.versions & code if n != LEGACY_VERSION and f'v{n}' in remote_bag
    ]
    if not candidates:
        if not (remote.versions & code):
            message = (
                f'{remote_app} speaks {_format_versions(remote.versions)}; this unit reads '
                f'{_format_versions(code - {LEGACY_VERSION})} and awaits a refresh'
            )
        else:
            message = f'waiting for service info from {remote_app}'
        return _result(last_token, StatusInfo('waiting', message))
    version = max(candidates)
    raw = remote_bag[f'v{version}']
    try:
        service, validated = _decode_once(
            _input_digest(version, raw), remembered, lambda: decode_payload(raw, version)
        )
    except InvalidDataError as e:
        return _result(last_token, StatusInfo('blocked', _invalid(remote_app, e.problem)))
    return _result(last_token, StatusInfo('active'), service, version, validated=validated)


def _invalid(remote_app: str, problem: Problem) -> str:
    return f'invalid data from {remote_app}: {problem}'


def _legacy_reader(
    code: frozenset[int],
    remote_bag: Mapping[str, str],
    last_token: str | None,
    remote_app: str,
    remembered: ValidatedPayload | None,
) -> ReaderResult:
    if LEGACY_VERSION not in code:
        message = f'{remote_app} speaks only a legacy k8s-service dialect; enable read_legacy'
        return _result(last_token, StatusInfo('blocked', message))
    if _legacy_dialect(remote_bag) == 'sdi' and 'data' not in remote_bag:
        # An SDI provider sends data only after it has seen our `_supported_versions`.
        return _result(
            last_token, StatusInfo('waiting', f'waiting for service info from {remote_app}')
        )
    legacy_keys = {k: remote_bag[k] for k in _LEGACY_KEYS if k in remote_bag}
    digest = _input_digest(LEGACY_VERSION, canonical_json(legacy_keys))
    try:
        service, validated = _decode_once(digest, remembered, lambda: decode_legacy(legacy_keys))
    except InvalidDataError as e:
        return _result(last_token, StatusInfo('blocked', _invalid(remote_app, e.problem)))
    return _result(last_token, StatusInfo('active'), service, LEGACY_VERSION, validated=validated)


def requirer_legacy_keys(
    remote_bag: Mapping[str, str], code_versions: Iterable[int]
) -> dict[str, str]:
    """What a requirer leader writes for a legacy provider: SDI needs `_supported_versions`.

    An SDI provider writes its `data` only once it sees the requirer advertise SDI versions;
    every other legacy dialect needs nothing. Returns `{}` otherwise (which removes the key).
    """
    remote = read_advertisement(remote_bag)
    if (
        remote.kind == 'legacy'
        and remote.dialect == 'sdi'
        and LEGACY_VERSION in set(code_versions)
    ):
        return {'_supported_versions': '- v1\n'}
    return {}


def provider_status(
    advertised: Iterable[int],
    remote_bag: Mapping[str, str],
    *,
    is_leader: bool,
    service_problem: Problem | None = None,
    has_service: bool = True,
    legacy_dialects: Iterable[str] = (),
    remote_app: str = 'remote',
    local_app: str = 'local',
) -> StatusInfo:
    """The provider's status for one relation (pure).

    On the leader, `advertised` is what it advertises; elsewhere, this unit's code set.
    """
    if service_problem is not None:
        return StatusInfo('blocked', f'invalid service to publish: {service_problem}')
    if not has_service:
        return StatusInfo('waiting', 'no service to publish yet')
    local = frozenset(advertised)
    dialects = frozenset(legacy_dialects)
    remote = read_advertisement(remote_bag)
    if remote.kind == 'invalid':
        assert remote.problem is not None
        return StatusInfo('blocked', _invalid(remote_app, remote.problem))
    if remote.kind == 'none':
        if dialects & {'mlops', 'flat'}:
            return StatusInfo('active')  # legacy requirers of these dialects never advertise
        return StatusInfo('waiting', f'waiting for {remote_app} to advertise protocol versions')
    if remote.kind == 'legacy':
        if remote.dialect in dialects:
            return StatusInfo('active')
        return StatusInfo(
            'blocked',
            f'{remote_app} speaks the legacy {remote.dialect} dialect; publish it with '
            f"legacy_dialects=['{remote.dialect}']",
        )
    chosen = select_version(local, remote.versions)
    if chosen is None:
        if not is_leader:
            return StatusInfo(
                'waiting',
                f'{remote_app} speaks {_format_versions(remote.versions)}; this unit speaks '
                f'{_format_versions(local)} and awaits a refresh',
            )
        return StatusInfo(
            'blocked', incompatible_message(local_app, local, remote_app, remote.versions)
        )
    if is_leader and remote.version != chosen:
        return StatusInfo('waiting', f'waiting for {remote_app} to confirm v{chosen}')
    return StatusInfo('active')


# ---------------------------------------------------------------------------------------------
# The ops layer
# ---------------------------------------------------------------------------------------------


class K8sServiceChangedEvent(ops.RelationEvent):
    """The service data of `relation` changed (as seen by this unit)."""


class K8sServiceRemovedEvent(ops.RelationEvent):
    """The service data of `relation` is gone (broken relation, withdrawn or invalid data)."""


class K8sServiceIncompatibleEvent(ops.RelationEvent):
    """The two applications advertise disjoint protocol versions on `relation`."""


class K8sServiceRequirerEvents(ops.ObjectEvents):
    """Events of `K8sServiceRequirer`."""

    changed = ops.EventSource(K8sServiceChangedEvent)
    removed = ops.EventSource(K8sServiceRemovedEvent)
    incompatible = ops.EventSource(K8sServiceIncompatibleEvent)


class K8sServiceProviderEvents(ops.ObjectEvents):
    """Events of `K8sServiceProvider`."""

    incompatible = ops.EventSource(K8sServiceIncompatibleEvent)


def _check_versions(versions: Iterable[int]) -> frozenset[int]:
    chosen = frozenset(versions)
    unknown = chosen - SUPPORTED_VERSIONS
    if not chosen or unknown:
        raise ValueError(
            f'k8s-service: versions must be a non-empty subset of '
            f'{_format_versions(SUPPORTED_VERSIONS)}, got {sorted(chosen)}'
        )
    return chosen


def _app_bag(relation: ops.Relation, app: ops.Application | None) -> dict[str, str]:
    if app is None:
        return {}
    return dict(relation.data[app])


class _Endpoint(ops.Object):
    """What the provider and the requirer share: the endpoint, its relations and triggers."""

    _stored = ops.StoredState()

    def __init__(self, charm: ops.CharmBase, relation_name: str, versions: Iterable[int]):
        super().__init__(charm, f'k8s-service-{relation_name}')
        self.relation_name = relation_name
        self.advertised = _check_versions(versions)
        self._stored.set_default(tokens={})

    def _observe(self, charm: ops.CharmBase) -> None:
        endpoint = charm.on[self.relation_name]
        for event in (
            endpoint.relation_created,
            endpoint.relation_joined,
            endpoint.relation_changed,
            endpoint.relation_departed,
            charm.on.leader_elected,
            charm.on.upgrade_charm,
            charm.on.config_changed,
        ):
            self.framework.observe(event, self._on_trigger)
        self.framework.observe(endpoint.relation_broken, self._on_broken)

    def _on_trigger(self, _: ops.EventBase) -> None:
        self.reconcile()

    def _on_broken(self, event: ops.RelationBrokenEvent) -> None:
        self._forget(event.relation)
        self.reconcile()

    def _forget(self, relation: ops.Relation) -> str | None:
        key = str(relation.id)
        last = self._token(relation)
        if last is not None:
            del self._stored.tokens[key]
        return last

    def _forget_departed(self) -> dict[int, str]:
        """Drop the tokens of relations that are gone; `{relation id: token}` of those dropped.

        ops leaves a broken relation out of `model.relations`, so a reconcile never reads it
        again: without this, its token would stay in StoredState for good.
        """
        live = {str(relation.id) for relation in self.relations}
        gone: dict[int, str] = {}
        for key in sorted(set(self._stored.tokens) - live, key=int):
            gone[int(key)] = cast('str', self._stored.tokens[key])
            del self._stored.tokens[key]
        return gone

    def _token(self, relation: ops.Relation) -> str | None:
        return cast('str | None', self._stored.tokens.get(str(relation.id)))

    def _set_token(self, relation: ops.Relation, token: str | None) -> None:
        if token == self._token(relation):
            return
        if token is None:
            del self._stored.tokens[str(relation.id)]
        else:
            self._stored.tokens[str(relation.id)] = token

    def reconcile(self) -> None:
        """Bring the relation data in line with the desired state (overridden per side)."""
        raise NotImplementedError

    @property
    def relations(self) -> list[ops.Relation]:
        """The relations of this endpoint, ordered by id."""
        return sorted(self.model.relations[self.relation_name], key=lambda r: r.id)


class K8sServiceRequirer(_Endpoint):
    """The requirer side: negotiates, reads, validates and reports the provider's Service.

    Args:
        charm: the charm.
        relation_name: the endpoint (interface `k8s-service`).
        versions: the wire versions to advertise and read (default: all this library knows).
        read_legacy: also read the legacy dialects (version 0).
        observe: observe the endpoint's relation events, `leader-elected`, `upgrade-charm` and
            `config-changed` and reconcile on each (False when a reconciler component drives
            it).
    """

    on = K8sServiceRequirerEvents()

    def __init__(
        self,
        charm: ops.CharmBase,
        relation_name: str = DEFAULT_RELATION_NAME,
        *,
        versions: Iterable[int] = SUPPORTED_VERSIONS,
        read_legacy: bool = True,
        observe: bool = True,
    ):
        super().__init__(charm, relation_name, versions)
        self.code_versions = self.advertised | frozenset({LEGACY_VERSION} if read_legacy else ())
        # {relation id: {'digest': ..., 'service_json': ...}}, see `ValidatedPayload`
        self._stored.set_default(validated={})
        if observe:
            self._observe(charm)

    def _on_broken(self, event: ops.RelationBrokenEvent) -> None:
        last = self._forget(event.relation)
        if last is not None and last.startswith('data:'):
            self.on.removed.emit(event.relation, event.relation.app)
        self.reconcile()

    def _read(self, relation: ops.Relation, last: str | None) -> ReaderResult:
        own: frozenset[int] | None = None
        if self.model.unit.is_leader():
            own = self.advertised
        result = reader_step(
            self.code_versions,
            _app_bag(relation, relation.app),
            last,
            own_advertised=own,
            remote_app=relation.app.name if relation.app else 'the provider',
            local_app=self.model.app.name,
            remembered=self._remembered(relation),
        )
        self._remember(relation, result.validated)
        return result

    def _remembered(self, relation: ops.Relation) -> ValidatedPayload | None:
        stored = self._stored.validated.get(str(relation.id))
        if stored is None:
            return None
        return ValidatedPayload(str(stored['digest']), str(stored['service_json']))

    def _remember(self, relation: ops.Relation, validated: ValidatedPayload | None) -> None:
        """Keep the last valid payload of `relation` (invalid data is never remembered)."""
        if validated is None or validated == self._remembered(relation):
            return
        self._stored.validated[str(relation.id)] = {
            'digest': validated.digest,
            'service_json': validated.service_json,
        }

    def _forget_departed_payloads(self) -> None:
        live = {str(relation.id) for relation in self.relations}
        for key in [k for k in self._stored.validated if k not in live]:
            del self._stored.validated[key]

    def reconcile(self) -> None:
        """Advertise (leader), then read every relation and emit events for what moved."""
        is_leader = self.model.unit.is_leader()
        for relation in self.relations:
            if is_leader:
                own = relation.data[self.model.app]
                remote_bag = _app_bag(relation, relation.app)
                legacy = requirer_legacy_keys(remote_bag, self.code_versions)
                new = leader_step(self.advertised, dict(own), remote_bag, None, legacy)
                changes = bag_changes(own, new)
                if changes:
                    own.update(changes)
            last = self._token(relation)
            result = self._read(relation, last)
            self._set_token(relation, result.token)
            if result.status.name == 'blocked' and result.token != last:
                logger.warning('%s: %s', self.relation_name, result.status.message)
            for name in result.events:
                self._emit(name, relation)
        self._forget_departed_payloads()
        for relation_id, last in self._forget_departed().items():
            if last.startswith('data:'):
                gone = self.model.get_relation(self.relation_name, relation_id)
                if gone is not None:
                    self.on.removed.emit(gone, gone.app)

    def _emit(self, name: str, relation: ops.Relation) -> None:
        if name == 'changed':
            self.on.changed.emit(relation, relation.app)
        elif name == 'removed':
            self.on.removed.emit(relation, relation.app)
        else:
            self.on.incompatible.emit(relation, relation.app)

    def services(self) -> dict[int, ServiceInfo]:
        """`{relation id: ServiceInfo}` for every relation with usable data."""
        out: dict[int, ServiceInfo] = {}
        for relation in self.relations:
            result = self._read(relation, None)
            if result.service is not None:
                out[relation.id] = result.service
        return out

    def service(self, relation: ops.Relation | None = None) -> ServiceInfo | None:
        """The service of `relation` (default: the first relation), or None."""
        if relation is None:
            relations = self.relations
            if not relations:
                return None
            relation = relations[0]
        return self._read(relation, None).service

    def relation_status(self, relation: ops.Relation) -> StatusInfo:
        """The status of one relation (without the endpoint prefix)."""
        return self._read(relation, None).status

    def status_info(self) -> StatusInfo:
        """The worst status over all relations (without prefix); waiting with no relation."""
        relations = self.relations
        if not relations:
            return StatusInfo('waiting', f'waiting for a {self.relation_name} relation')
        return _worst(self.relation_status(r) for r in relations)

    def get_status(self) -> ops.StatusBase:
        """The status to add in a collect-status handler, prefixed with the endpoint name."""
        return self.status_info().to_ops(f'{self.relation_name}: ')


class K8sServiceProvider(_Endpoint):
    """The provider side: negotiates and publishes this application's Service.

    Args:
        charm: the charm.
        relation_name: the endpoint (interface `k8s-service`).
        service: returns the Service to publish, or None while there is none (which withdraws
            what was published). Called on every reconcile (level-triggered). Without it, pass
            the service to `publish()` (a reconciler component does).
        versions: the wire versions to advertise and publish (default: all this library knows).
        legacy_dialects: legacy dialects to publish as well (`sdi`, `mlops`, `flat`).
        observe: observe the endpoint's relation events, `leader-elected`, `upgrade-charm` and
            `config-changed` and publish on each (False when a reconciler component drives it).
    """

    on = K8sServiceProviderEvents()

    def __init__(
        self,
        charm: ops.CharmBase,
        relation_name: str = DEFAULT_RELATION_NAME,
        *,
        service: Callable[[], ServiceInfo | None] | None = None,
        versions: Iterable[int] = SUPPORTED_VERSIONS,
        legacy_dialects: Iterable[str] = (),
        observe: bool = True,
    ):
        super().__init__(charm, relation_name, versions)
        self.legacy_dialects = tuple(sorted(set(legacy_dialects)))
        unknown = set(self.legacy_dialects) - set(LEGACY_DIALECTS)
        if unknown:
            raise ValueError(
                f'k8s-service: unknown legacy dialects {sorted(unknown)}; '
                f'choose from {list(LEGACY_DIALECTS)}'
            )
        self._service_getter = service
        if observe:
            self._observe(charm)

    def _desired(
        self, service: ServiceInfo | None
    ) -> tuple[ServiceInfo | None, Problem | None, bool]:
        """The service to publish, its problem, and whether it is known at all."""
        if service is None:
            if self._service_getter is None:
                return None, None, False
            service = self._service_getter()
        if service is None:
            return None, None, True
        return service, validate_service(service, self.advertised), True

    def reconcile(self) -> None:
        """Same as `publish()`."""
        self.publish()

    def publish(self, service: ServiceInfo | None = None) -> None:
        """Write the desired bag on every relation (leader only; a no-op elsewhere).

        Args:
            service: the Service to publish; by default, what the `service` callable returns.
                With neither, the versions are still negotiated and the payloads already
                published stay as they are.

        While the service is invalid, what was published before stays (and status is Blocked);
        when the `service` callable returns None, the payloads are withdrawn.
        """
        self._forget_departed()
        if not self.model.unit.is_leader():
            logger.debug('%s: not the leader, nothing to publish', self.relation_name)
            return
        if not self.relations:
            return  # nothing to write to; validating (which loads pydantic) can wait
        service, problem, known = self._desired(service)
        if problem is not None:
            logger.warning('%s: invalid service to publish: %s', self.relation_name, problem)
        for relation in self.relations:
            keep = problem is not None or not known
            self._publish_one(relation, None if keep else service, keep)

    def withdraw(self) -> None:
        """Advertise the versions but no Service: remove the payloads published before.

        For a charm that has no Service to offer (yet). The requirers then see the versions
        and wait for data. Leader only; a no-op elsewhere.
        """
        self._forget_departed()
        if not self.model.unit.is_leader():
            logger.debug('%s: not the leader, nothing to withdraw', self.relation_name)
            return
        for relation in self.relations:
            self._publish_one(relation, None, keep=False)

    def _publish_one(
        self, relation: ops.Relation, service: ServiceInfo | None, keep: bool
    ) -> None:
        own = relation.data[self.model.app]
        current = dict(own)
        payloads: dict[int, str] | None = None
        legacy: dict[str, str] | None = {} if self.legacy_dialects else None
        if service is not None:
            payloads = {v: encode_payload(service, v) for v in self.advertised}
            if self.legacy_dialects:
                legacy = encode_legacy(service, self.legacy_dialects)
        elif keep:  # keep the last good data (while the new one is invalid or unknown)
            payloads = {v: current[f'v{v}'] for v in self.advertised if f'v{v}' in current}
            if legacy is not None:
                legacy = {k: current[k] for k in _LEGACY_KEYS if k in current}
        remote_bag = _app_bag(relation, relation.app)
        new = leader_step(self.advertised, current, remote_bag, payloads, legacy)
        changes = bag_changes(current, new)
        if changes:
            own.update(changes)
        self._track_incompatible(relation, read_advertisement(remote_bag))

    def _track_incompatible(self, relation: ops.Relation, remote: Advertisement) -> None:
        incompatible = remote.kind == 'modern' and not (self.advertised & remote.versions)
        was = self._token(relation) == _INCOMPATIBLE
        self._set_token(relation, _INCOMPATIBLE if incompatible else None)
        if incompatible and not was:
            logger.warning(
                '%s: %s',
                self.relation_name,
                incompatible_message(
                    self.model.app.name, self.advertised, relation.app.name, remote.versions
                ),
            )
            self.on.incompatible.emit(relation, relation.app)

    def relation_status(
        self, relation: ops.Relation, service: ServiceInfo | None = None
    ) -> StatusInfo:
        """The status of one relation (without the endpoint prefix); `service` as in `publish`."""
        service, problem, known = self._desired(service)
        return provider_status(
            self.advertised,
            _app_bag(relation, relation.app),
            is_leader=self.model.unit.is_leader(),
            service_problem=problem,
            has_service=service is not None or not known,
            legacy_dialects=self.legacy_dialects,
            remote_app=relation.app.name if relation.app else 'the requirer',
            local_app=self.model.app.name,
        )

    def status_info(self, service: ServiceInfo | None = None) -> StatusInfo:
        """The worst status over all relations (without prefix); active with no relation."""
        return _worst(self.relation_status(r, service) for r in self.relations)

    def get_status(self) -> ops.StatusBase:
        """The status to add in a collect-status handler, prefixed with the endpoint name."""
        return self.status_info().to_ops(f'{self.relation_name}: ')


# ---------------------------------------------------------------------------------------------
# Reconciler components
# ---------------------------------------------------------------------------------------------


def _raise_for(status: StatusInfo) -> None:
    if status.name == 'blocked':
        raise BlockedError(status.message)
    if status.name == 'waiting':
        raise WaitingError(status.message)


class K8sServiceProviderComponent(Component[None]):
    """Publishes a Service through a `K8sServiceProvider` as part of a `CharmReconciler`.

    Args:
        provider: the provider, created in the charm's `__init__` with `observe=False`.
        service: returns the Service to publish from the reconcile context (for example from
            `ctx.output_of(config)`), or None while there is none yet.
        name: the component name (the status prefix).
    """

    def __init__(
        self,
        provider: K8sServiceProvider,
        service: Callable[[ReconcileContext], ServiceInfo | None],
        *,
        name: str = 'k8s-service',
    ):
        super().__init__(name, relation_endpoints=(provider.relation_name,))
        self.provider = provider
        self.service_from = service

    def reconcile(self, ctx: ReconcileContext) -> None:
        """Publish on every relation (writes only on the leader, and only what changed)."""
        service = self.service_from(ctx)
        if service is None:
            self.provider.withdraw()  # still advertise, and take back what was published
            raise WaitingError('no service to publish yet')
        self.provider.publish(service)

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        """The provider's worst relation status."""
        return self.provider.status_info(self.service_from(ctx)).to_ops()

    def inputs(self, ctx: ReconcileContext) -> object:
        """The service being published."""
        service = self.service_from(ctx)
        return service.to_dict() if service is not None else None


class K8sServiceRequirerComponent(Component[list[ServiceInfo]]):
    """Receives Services through a `K8sServiceRequirer` as part of a `CharmReconciler`.

    The output is the list of `ServiceInfo` received, ordered by relation id. While there is
    none, `reconcile` raises `WaitingError` (or `BlockedError` for an incompatible or invalid
    peer), so dependents run only with data. Without any relation it raises `BlockedError`
    naming the `juju integrate` remedy, or returns `[]` when `required` is false.

    Args:
        requirer: the requirer, created in the charm's `__init__` with `observe=False`.
        name: the component name (the status prefix).
        required: without any relation, block with the `juju integrate` remedy (the default);
            when false, the output is an empty list and the component is ready.
    """

    def __init__(
        self, requirer: K8sServiceRequirer, *, name: str = 'k8s-service', required: bool = True
    ):
        super().__init__(name, relation_endpoints=(requirer.relation_name,))
        self.requirer = requirer
        self.required = required

    def reconcile(self, ctx: ReconcileContext) -> list[ServiceInfo]:
        """Advertise (leader), read every relation, emit events; return the services."""
        self.requirer.reconcile()
        if not self.requirer.relations:
            if self.required:
                raise BlockedError(
                    f'missing relation: run juju integrate {ctx.charm.app.name}:'
                    f'{self.requirer.relation_name} <an application providing k8s-service>'
                )
            return []
        services = list(self.requirer.services().values())
        if not services:
            _raise_for(self.requirer.status_info())
            raise WaitingError(f'no service info on {self.requirer.relation_name} yet')
        return services

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        """The requirer's worst relation status (active with no relation when not required)."""
        if not self.requirer.relations:
            return ops.ActiveStatus()
        return self.requirer.status_info().to_ops()

    def inputs(self, ctx: ReconcileContext) -> object:
        """Fingerprints of the services received."""
        return sorted(s.fingerprint() for s in self.requirer.services().values())
