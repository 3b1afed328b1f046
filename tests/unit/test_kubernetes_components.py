"""Unit tests of kubernetes_components: pure parts, and error mapping through a fake transport.

The functional tests (tests/functional/kubernetes) run the same component against a real
kube-apiserver; here the API server is replaced by httpx2.MockTransport handlers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx2
import ops
import pytest
from charms.reconcile_libs.v0 import kubernetes_components as kc
from charms.reconcile_libs.v0.kubernetes_components import (
    CrdPolicy,
    InventoryEntry,
    KubernetesResources,
    Manifest,
    ManifestError,
    ObjectKey,
    ReadinessState,
    evaluate_readiness,
    render_template,
    render_yaml,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler, ReconcileContext, WaitingError
from hypothesis import given, settings
from hypothesis import strategies as st
from lightkube import Client, KubeConfig
from ops import testing

LIB_DIR = Path(__file__).resolve().parents[2] / 'lib'


# ---- import cost ----------------------------------------------------------------------------


def test_importing_the_lib_does_not_import_lightkube():
    # (PyYAML is not checked: ops itself imports it.)
    code = (
        'import sys\n'
        'import charms.reconcile_libs.v0.kubernetes_components\n'
        'heavy = sorted(m for m in sys.modules if m.split(".")[0] in '
        '("lightkube", "httpx", "httpx2", "msgspec"))\n'
        'print(",".join(heavy))\n'
    )
    result = subprocess.run(
        [sys.executable, '-c', code],
        env={'PYTHONPATH': str(LIB_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ''


# ---- templates and YAML ---------------------------------------------------------------------


def test_render_template_fails_on_a_missing_variable_naming_it():
    with pytest.raises(ManifestError, match=r'\$port is not defined'):
        render_template('port: $port\nname: ${name}', {'name': 'x'})


def test_render_template_substitutes_and_keeps_escaped_dollars():
    assert render_template('a: $x\nb: $$HOME', {'x': 3}) == 'a: 3\nb: $HOME'


def test_render_yaml_splits_documents_skips_empty_ones_and_flattens_lists():
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: Secret, metadata: {name: c}}
"""
    names = [obj['metadata']['name'] for obj in render_yaml(text)]
    assert names == ['a', 'b', 'c']


def test_render_yaml_rejects_a_document_that_is_not_a_mapping():
    with pytest.raises(ManifestError, match='document 1 is not a mapping'):
        render_yaml('a: 1\n---\n- just\n- a list\n')


def test_render_yaml_reports_invalid_yaml():
    with pytest.raises(ManifestError, match='invalid YAML'):
        render_yaml('a: [unclosed')


def test_render_yaml_without_variables_leaves_dollars_alone():
    assert render_yaml('kind: X\ndata: {v: $notavar}')[0]['data'] == {'v': '$notavar'}


# ---- identity and normalisation --------------------------------------------------------------


def test_identity_ignores_api_version_and_defaults_the_namespace():
    old = kc.normalise_manifest(
        {
            'apiVersion': 'autoscaling/v1',
            'kind': 'HorizontalPodAutoscaler',
            'metadata': {'name': 'h'},
        },
        'model-ns',
        namespaced=True,
    )
    new = kc.normalise_manifest(
        {
            'apiVersion': 'autoscaling/v2',
            'kind': 'HorizontalPodAutoscaler',
            'metadata': {'name': 'h', 'namespace': 'model-ns'},
        },
        'model-ns',
        namespaced=True,
    )
    assert kc.object_key(old, True) == kc.object_key(new, True)
    assert kc.object_key(old, True) == ObjectKey(
        'autoscaling', 'HorizontalPodAutoscaler', 'model-ns', 'h'
    )
    assert old['metadata']['namespace'] == 'model-ns'


def test_cluster_scoped_objects_lose_a_stray_namespace():
    crd = kc.normalise_manifest(
        {
            'apiVersion': 'rbac.authorization.k8s.io/v1',
            'kind': 'ClusterRole',
            'metadata': {'name': 'r', 'namespace': 'x'},
        },
        'model-ns',
        namespaced=False,
    )
    assert 'namespace' not in crd['metadata']
    assert kc.object_key(crd, False) == ObjectKey(
        'rbac.authorization.k8s.io', 'ClusterRole', '', 'r'
    )


def test_normalise_does_not_modify_the_callers_dict():
    raw: dict[str, Any] = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'a'}}
    kc.normalise_manifest(raw, 'ns', namespaced=True)
    assert raw == {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'a'}}


@pytest.mark.parametrize(
    ('manifest', 'message'),
    [
        ({'kind': 'ConfigMap', 'metadata': {'name': 'a'}}, 'has no apiVersion'),
        ({'apiVersion': 'v1', 'metadata': {'name': 'a'}}, 'has no kind'),
        (
            {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {}},
            'ConfigMap object has no metadata.name',
        ),
        ({'apiVersion': 'v1', 'kind': 'ConfigMap'}, 'has no metadata.name'),
    ],
)
def test_check_manifest_names_the_missing_field(manifest: dict[str, Any], message: str):
    with pytest.raises(ManifestError, match=message):
        kc.check_manifest(manifest)


# ---- ordering -------------------------------------------------------------------------------


def _key(kind: str, group: str = '', name: str = 'x', namespace: str = 'ns') -> ObjectKey:
    return ObjectKey(group, kind, namespace, name)


def test_apply_order_puts_crds_and_namespaces_first_and_custom_resources_last():
    keys = [
        _key('Widget', 'example.com'),
        _key('Deployment', 'apps'),
        _key('ConfigMap'),
        _key('Service'),
        _key('CustomResourceDefinition', 'apiextensions.k8s.io', namespace=''),
        _key('RoleBinding', 'rbac.authorization.k8s.io'),
        _key('Namespace', namespace=''),
        _key('ServiceAccount'),
    ]
    order = [
        keys[i].kind for i in kc.order_for_apply(keys, frozenset({('example.com', 'Widget')}))
    ]
    assert order == [
        'CustomResourceDefinition',
        'Namespace',
        'ServiceAccount',
        'ConfigMap',
        'RoleBinding',
        'Service',
        'Deployment',
        'Widget',
    ]


def test_apply_order_is_stable_within_a_kind():
    keys = [_key('ConfigMap', name=n) for n in ('c', 'a', 'b')]
    assert [keys[i].name for i in kc.order_for_apply(keys)] == ['c', 'a', 'b']


# ---- inventory and prune plan ---------------------------------------------------------------


def _entry(
    kind: str, name: str, group: str = '', namespace: str = 'ns', plural: str = ''
) -> InventoryEntry:
    return InventoryEntry(group, 'v1', kind, plural or kind.lower() + 's', namespace, name)


def test_inventory_round_trips_and_encodes_canonically():
    entries = [
        _entry('Service', 'b'),
        _entry('ConfigMap', 'a'),
        _entry('Widget', 'w', 'example.com'),
    ]
    encoded = kc.encode_inventory(entries)
    assert kc.encode_inventory(reversed(entries)) == encoded
    assert set(kc.decode_inventory(encoded)) == set(entries)


@pytest.mark.parametrize('text', ['not json', '{"a": 1}', '[["too", "short"]]'])
def test_malformed_inventory_is_a_manifest_error(text: str):
    with pytest.raises(ManifestError):
        kc.decode_inventory(text)


def test_prune_plan_deletes_exactly_previous_minus_desired_in_reverse_order():
    previous = [
        _entry('ConfigMap', 'keep'),
        _entry('ConfigMap', 'gone'),
        _entry('Deployment', 'gone', 'apps'),
        _entry('Namespace', 'gone-ns', namespace=''),
    ]
    desired = [ObjectKey('', 'ConfigMap', 'ns', 'keep')]
    to_delete, kept = kc.prune_plan(previous, desired, CrdPolicy.KEEP)
    assert [(e.kind, e.name) for e in to_delete] == [
        ('Deployment', 'gone'),
        ('ConfigMap', 'gone'),
        ('Namespace', 'gone-ns'),
    ]
    assert kept == []


def test_prune_plan_matches_by_identity_not_api_version():
    previous = [
        InventoryEntry(
            'autoscaling', 'v1', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', 'ns', 'h'
        )
    ]
    desired = [ObjectKey('autoscaling', 'HorizontalPodAutoscaler', 'ns', 'h')]
    assert kc.prune_plan(previous, desired, CrdPolicy.KEEP) == ([], [])


@pytest.mark.parametrize(
    ('policy', 'deleted'), [(CrdPolicy.KEEP, False), (CrdPolicy.DELETE, True)]
)
def test_prune_plan_applies_the_crd_policy(policy: CrdPolicy, deleted: bool):
    crd = _entry('CustomResourceDefinition', 'widgets.example.com', 'apiextensions.k8s.io', '')
    widget = _entry('Widget', 'w', 'example.com')
    to_delete, kept = kc.prune_plan([crd, widget], [], policy)
    assert (crd in to_delete) is deleted
    assert (crd in kept) is not deleted
    assert to_delete[0] == widget  # custom resources go before their CRD


DNS_SUBDOMAIN = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')


def test_inventory_name_keeps_valid_component_names_readable():
    assert kc.inventory_name('my-app', 'resources') == 'my-app.resources.inventory'
    assert kc.inventory_name('my-app', 'ingress.v2') == 'my-app.ingress.v2.inventory'


def test_inventory_name_sanitises_other_names_and_appends_a_hash():
    name = kc.inventory_name('my-app', 'K8s_Resources')
    assert re.fullmatch(r'my-app\.k8s-resources-[0-9a-f]{12}\.inventory', name), name


@pytest.mark.parametrize(
    ('first', 'second'),
    [('a_b', 'a-b'), ('Route', 'route'), ('a b', 'a_b'), ('x' * 300, 'x' * 301), ('', '_')],
)
def test_inventory_names_of_distinct_components_differ(first: str, second: str):
    # a shared inventory would make each component prune the other's objects
    assert kc.inventory_name('my-app', first) != kc.inventory_name('my-app', second)


component_names = st.text(
    st.sampled_from('abzAZ09_-. /\u00e9'), min_size=0, max_size=12
) | st.builds(lambda n: 'x' * n, st.integers(200, 300))


@given(component_names, component_names)
def test_inventory_name_is_an_injective_dns_subdomain(first: str, second: str):
    name = kc.inventory_name('my-app', first)
    assert len(name) <= 253
    assert DNS_SUBDOMAIN.fullmatch(name), name
    assert name.startswith('my-app.')
    assert name.endswith('.inventory')
    assert (name == kc.inventory_name('my-app', second)) == (first == second)


# ---- readiness ------------------------------------------------------------------------------


def _deployment(spec_replicas: int = 2, **status: Any) -> dict[str, Any]:
    return {
        'kind': 'Deployment',
        'metadata': {'name': 'd', 'generation': 3},
        'spec': {'replicas': spec_replicas},
        'status': status,
    }


def test_deployment_without_status_is_in_progress():
    readiness = evaluate_readiness(_deployment())
    assert readiness.state is ReadinessState.IN_PROGRESS
    assert readiness.message == 'Updated: 0/2'


def test_deployment_with_unobserved_generation_is_in_progress():
    obj = _deployment(
        observedGeneration=2, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2
    )
    readiness = evaluate_readiness(obj)
    assert (readiness.state, readiness.reason) == (ReadinessState.IN_PROGRESS, 'NotObserved')


def test_deployment_with_all_replicas_ready_is_current():
    obj = _deployment(
        observedGeneration=3, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2
    )
    assert evaluate_readiness(obj).ready


def test_deployment_less_ready_names_the_counts():
    obj = _deployment(
        observedGeneration=3, replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1
    )
    readiness = evaluate_readiness(obj)
    assert (readiness.reason, readiness.message) == ('LessReady', 'Ready: 1/2')


def test_deployment_past_its_progress_deadline_has_failed():
    obj = _deployment(
        observedGeneration=3,
        conditions=[
            {
                'type': 'Progressing',
                'status': 'False',
                'reason': 'ProgressDeadlineExceeded',
                'message': 'too slow',
            }
        ],
    )
    readiness = evaluate_readiness(obj)
    assert (readiness.state, readiness.message) == (ReadinessState.FAILED, 'too slow')


def test_object_being_deleted_is_terminating():
    obj = {
        'kind': 'ConfigMap',
        'metadata': {'name': 'a', 'deletionTimestamp': '2026-01-01T00:00:00Z'},
    }
    assert evaluate_readiness(obj).state is ReadinessState.TERMINATING


def _cond(type_: str, status: str, reason: str = '', message: str = '') -> dict[str, str]:
    return {'type': type_, 'status': status, 'reason': reason, 'message': message}


def _obj(kind: str, spec: dict[str, Any] | None = None, /, **status: Any) -> dict[str, Any]:
    return {'kind': kind, 'metadata': {'name': 'o'}, 'spec': spec or {}, 'status': status}


STS3 = {'replicas': 3}
STS1 = {'replicas': 1}
DS_COUNTS = {
    'observedGeneration': 1,
    'desiredNumberScheduled': 2,
    'currentNumberScheduled': 2,
    'updatedNumberScheduled': 2,
    'numberAvailable': 2,
}


@pytest.mark.parametrize(
    ('obj', 'state', 'reason'),
    [
        (_obj('StatefulSet', STS3, replicas=3, readyReplicas=2), 'InProgress', 'LessReady'),
        (
            _obj(
                'StatefulSet',
                STS1,
                replicas=1,
                readyReplicas=1,
                currentRevision='a',
                updateRevision='b',
            ),
            'InProgress',
            'RevisionMismatch',
        ),
        (
            _obj(
                'StatefulSet',
                STS1,
                replicas=1,
                readyReplicas=1,
                currentRevision='a',
                updateRevision='a',
            ),
            'Current',
            'Current',
        ),
        (_obj('DaemonSet'), 'InProgress', 'NotObserved'),
        (_obj('DaemonSet', **DS_COUNTS, numberReady=1), 'InProgress', 'LessReady'),
        (_obj('DaemonSet', **DS_COUNTS, numberReady=2), 'Current', 'Current'),
        (_obj('Job'), 'InProgress', 'JobNotStarted'),
        (
            _obj(
                'Job', startTime='t', conditions=[_cond('Failed', 'True', 'BackoffLimitExceeded')]
            ),
            'Failed',
            'BackoffLimitExceeded',
        ),
        (_obj('Job', startTime='t', conditions=[_cond('Complete', 'True')]), 'Current', 'Current'),
        (_obj('PersistentVolumeClaim', phase='Pending'), 'InProgress', 'NotBound'),
        (_obj('PersistentVolumeClaim', phase='Bound'), 'Current', 'Current'),
        (_obj('Service', {'type': 'LoadBalancer'}), 'InProgress', 'NoIPAssigned'),
        (_obj('Service', {'clusterIP': '10.0.0.1'}), 'Current', 'Current'),
        (
            _obj('CustomResourceDefinition', conditions=[_cond('Established', 'False')]),
            'InProgress',
            'NotEstablished',
        ),
        (
            _obj('CustomResourceDefinition', conditions=[_cond('NamesAccepted', 'False', 'x')]),
            'Failed',
            'NamesNotAccepted',
        ),
        (_obj('Pod', phase='Pending'), 'InProgress', 'PodNotReady'),
        (_obj('Pod', phase='Failed'), 'Failed', 'PodFailed'),
        (
            _obj('Widget', conditions=[_cond('Ready', 'False', 'Provisioning', 'disk')]),
            'InProgress',
            'Provisioning',
        ),
        (_obj('Widget', conditions=[_cond('Stalled', 'True', 'BadSpec')]), 'Failed', 'BadSpec'),
        (_obj('Widget', conditions=[_cond('Reconciling', 'True')]), 'InProgress', 'Reconciling'),
        (_obj('Widget', conditions=[_cond('Ready', 'True')]), 'Current', 'Current'),
        (_obj('Widget'), 'Current', 'Current'),
    ],
)
def test_per_kind_readiness_rules(obj: dict[str, Any], state: str, reason: str):
    readiness = evaluate_readiness(obj)
    assert (readiness.state.value, readiness.reason) == (state, reason)


def test_rollup_names_the_worst_object_and_counts_the_others():
    def applied(kind: str, readiness: kc.Readiness) -> Any:
        return kc._Applied(_key(kind), readiness)

    items = [
        applied('ConfigMap', kc.Readiness(ReadinessState.CURRENT, 'Current', 'ready')),
        applied('Deployment', kc.Readiness(ReadinessState.IN_PROGRESS, 'LessReady', 'Ready: 0/1')),
        applied('Job', kc.Readiness(ReadinessState.FAILED, 'BackoffLimitExceeded', 'job failed')),
    ]
    status = kc._rollup_readiness(items)
    assert status == ops.BlockedStatus('Job ns/x: job failed (+1 more not ready)')
    assert kc._rollup_readiness(items[:2]) == ops.WaitingStatus('Deployment ns/x: Ready: 0/1')
    assert kc._rollup_readiness(items[:1]) == ops.ActiveStatus()


# ---- error mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('code', 'kind', 'text'),
    [
        (403, 'blocked', 'juju trust app --scope=cluster'),
        (401, 'blocked', 'rejected the credentials'),
        (422, 'blocked', 'as invalid (422)'),
        (404, 'waiting', 'not found'),
        (409, 'waiting', 'conflict'),
        (429, 'waiting', 'throttling'),
        (503, 'waiting', 'API server error'),
    ],
)
def test_http_codes_map_to_actionable_statuses(code: int, kind: str, text: str):
    error = kc.status_error_for_http(code, 'apply ConfigMap ns/a', 'detail', 'app')
    assert error.status.name == kind
    assert text in error.message
    assert 'apply ConfigMap ns/a' in error.message


def _kubeconfig() -> KubeConfig:
    return KubeConfig.from_dict(
        {
            'clusters': [{'name': 'c', 'cluster': {'server': 'https://k8s.invalid:6443'}}],
            'users': [{'name': 'u', 'user': {'token': 't'}}],
            'contexts': [
                {'name': 'x', 'context': {'cluster': 'c', 'user': 'u', 'namespace': 'model'}}
            ],
            'current-context': 'x',
        }
    )


def _client(handler: Callable[[httpx2.Request], httpx2.Response]) -> Client:
    return Client(_kubeconfig(), field_manager='app', transport=httpx2.MockTransport(handler))


def _status_response(code: int, reason: str, message: str) -> httpx2.Response:
    body = {
        'kind': 'Status',
        'apiVersion': 'v1',
        'status': 'Failure',
        'reason': reason,
        'message': message,
        'code': code,
    }
    return httpx2.Response(code, json=body)


CONFIGMAP = {
    'apiVersion': 'v1',
    'kind': 'ConfigMap',
    'metadata': {'name': 'settings'},
    'data': {'a': 'b'},
}


def _run_charm(
    client: Client | Callable[[], Client],
    objects: Callable[[ReconcileContext], Iterable[Manifest]] | Iterable[Manifest] = (CONFIGMAP,),
    leader: bool = True,
) -> testing.State:
    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            self.reconciler.add(KubernetesResources('k8s', objects, client=client))

    ctx = testing.Context(Charm, meta={'name': 'app'})
    return ctx.run(
        ctx.on.config_changed(), testing.State(leader=leader, model=testing.Model(name='model'))
    )


def _json_error(code: int, reason: str) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == 'GET':
            return _status_response(404, 'NotFound', 'no inventory yet')
        return _status_response(code, reason, f'{reason} from the test')

    return handler


def test_forbidden_blocks_with_the_juju_trust_remedy():
    state = _run_charm(_client(_json_error(403, 'Forbidden')))
    assert state.unit_status.name == 'blocked'
    assert 'run `juju trust app --scope=cluster`' in state.unit_status.message
    assert state.unit_status.message.startswith('[k8s] forbidden to write the inventory ConfigMap')


def test_conflict_waits_with_the_cause():
    state = _run_charm(_client(_json_error(409, 'Conflict')))
    assert state.unit_status == ops.WaitingStatus(
        '[k8s] conflict while trying to write the inventory ConfigMap app.k8s.inventory (409): '
        'Conflict from the test'
    )


def test_non_json_server_error_waits_with_the_status_code():
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            502, text='bad gateway from proxy', headers={'Content-Type': 'text/plain'}
        )

    state = _run_charm(_client(handler))
    assert state.unit_status.name == 'waiting'
    assert '(502): bad gateway from proxy' in state.unit_status.message


@pytest.mark.parametrize(
    ('exception', 'text'),
    [
        (httpx2.ConnectError('connection refused'), 'cannot reach the Kubernetes API'),
        (httpx2.ReadTimeout('slow'), 'timed out trying to read the inventory'),
        (httpx2.RemoteProtocolError('peer closed'), 'cannot reach the Kubernetes API'),
    ],
)
def test_transport_errors_wait_with_the_cause(exception: Exception, text: str):
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exception

    state = _run_charm(_client(handler))
    assert state.unit_status.name == 'waiting'
    assert text in state.unit_status.message


def test_a_client_that_cannot_be_configured_blocks():
    from lightkube import ConfigError

    def no_config() -> Client:
        raise ConfigError('Configuration file ~/.kube/config not found')

    state = _run_charm(no_config)
    assert state.unit_status.name == 'blocked'
    assert 'no usable Kubernetes client configuration' in state.unit_status.message


def test_missing_template_variable_blocks_and_names_it(caplog: pytest.LogCaptureFixture):
    def objects(ctx: ReconcileContext) -> list[Manifest]:
        return [*render_yaml('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: $name}', {})]

    state = _run_charm(_client(_json_error(500, 'Unused')), objects)
    assert state.unit_status == ops.BlockedStatus(
        '[k8s] invalid desired object: template variable $name is not defined'
    )
    assert any('template variable $name is not defined' in r.getMessage() for r in caplog.records)


def test_an_object_declared_twice_blocks():
    state = _run_charm(_client(_json_error(500, 'Unused')), [CONFIGMAP, dict(CONFIGMAP)])
    assert state.unit_status.name == 'blocked'
    assert 'ConfigMap model/settings is declared twice' in state.unit_status.message


def test_an_unknown_kind_blocks_with_how_to_register_it():
    widget = {'apiVersion': 'nowhere.example.com/v1', 'kind': 'Gizmo', 'metadata': {'name': 'g'}}
    state = _run_charm(_client(_json_error(500, 'Unused')), [widget])
    assert state.unit_status.name == 'blocked'
    assert 'unknown kind Gizmo' in state.unit_status.message


def test_a_bug_in_the_charm_still_raises():
    def objects(ctx: ReconcileContext) -> list[Manifest]:
        raise ZeroDivisionError('charm bug')

    with pytest.raises(testing.errors.UncaughtCharmError, match='charm bug'):
        _run_charm(_client(_json_error(500, 'Unused')), objects)


def test_non_leader_makes_no_api_calls():
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        return _status_response(500, 'Unexpected', 'should not be called')

    state = _run_charm(_client(handler), leader=False)
    assert calls == []
    assert state.unit_status == ops.ActiveStatus()


class FakeApiServer:
    """Just enough of an API server for the call-count test: SSA echoes the body back."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if request.method == 'GET':
            if path in self.objects:
                return httpx2.Response(200, json=self.objects[path])
            return _status_response(404, 'NotFound', 'not found')
        if request.method == 'PATCH':
            assert request.url.params['fieldManager'] == 'app'
            assert request.url.params['force'] == 'true'
            assert request.headers['Content-Type'] == 'application/apply-patch+yaml'
            body = json.loads(request.content)
            self.objects[path] = body
            return httpx2.Response(200, json=body)
        if request.method == 'DELETE':
            self.objects.pop(path, None)
            return httpx2.Response(
                200, json={'kind': 'Status', 'apiVersion': 'v1', 'status': 'Success'}
            )
        raise AssertionError(f'unexpected {request.method} {path}')


def _configmaps(names: Iterable[str]) -> list[Manifest]:
    return [
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': n}, 'data': {'n': n}}
        for n in names
    ]


def test_call_pattern_is_n_applies_plus_one_inventory_read_in_steady_state():
    server = FakeApiServer()
    _run_charm(_client(server), _configmaps(['a', 'b', 'c']))
    first = list(server.calls)
    assert first[0] == ('GET', '/api/v1/namespaces/model/configmaps/app.k8s.inventory')
    assert first[1] == ('PATCH', '/api/v1/namespaces/model/configmaps/app.k8s.inventory')
    assert len(first) == 5  # read, write-ahead, 3 applies; nothing to prune or rewrite
    server.calls.clear()
    _run_charm(_client(server), _configmaps(['a', 'b', 'c']))
    assert [method for method, _ in server.calls] == ['GET', 'PATCH', 'PATCH', 'PATCH']
    server.calls.clear()
    _run_charm(_client(server), _configmaps(['a', 'c']))
    assert server.calls[-2:] == [
        ('DELETE', '/api/v1/namespaces/model/configmaps/b'),
        ('PATCH', '/api/v1/namespaces/model/configmaps/app.k8s.inventory'),
    ]


def test_prune_is_skipped_when_an_apply_fails():
    server = FakeApiServer()
    _run_charm(_client(server), _configmaps(['a', 'b']))

    def failing(request: httpx2.Request) -> httpx2.Response:
        if request.method == 'PATCH' and request.url.path.endswith('/configmaps/c'):
            return _status_response(500, 'InternalError', 'etcd is down')
        return server(request)

    server.calls.clear()
    state = _run_charm(_client(failing), _configmaps(['a', 'c']))
    assert state.unit_status.name == 'waiting'
    assert 'etcd is down' in state.unit_status.message
    assert not any(method == 'DELETE' for method, _ in server.calls)
    assert '/api/v1/namespaces/model/configmaps/b' in server.objects


def test_waiting_error_is_what_the_reconciler_expects():
    # The component's errors are the reconciler's own classes, so statuses roll up normally.
    error = kc.status_error_for_http(503, 'x', 'y', 'app')
    assert isinstance(error, WaitingError)


# ---- CRDs, custom kinds, removal failures ---------------------------------------------------


def _crd(group: str, established: bool) -> dict[str, Any]:
    return {
        'apiVersion': 'apiextensions.k8s.io/v1',
        'kind': 'CustomResourceDefinition',
        'metadata': {'name': f'gadgets.{group}'},
        'spec': {
            'group': group,
            'scope': 'Namespaced',
            'names': {'kind': 'Gadget', 'plural': 'gadgets'},
            'versions': [{'name': 'v1', 'served': True, 'storage': True}],
        },
        'status': {
            'conditions': [{'type': 'Established', 'status': 'True' if established else 'False'}]
        },
    }


def test_custom_resources_wait_for_their_crd_and_nothing_is_pruned_meanwhile():
    group = 'unit-wait.example.com'
    server = FakeApiServer()
    _run_charm(_client(server), _configmaps(['old']))

    def crd_never_established(request: httpx2.Request) -> httpx2.Response:
        if 'customresourcedefinitions' in request.url.path:
            server.calls.append((request.method, request.url.path))
            return httpx2.Response(200, json=_crd(group, established=False))
        return server(request)

    server.calls.clear()
    gadget = {'apiVersion': f'{group}/v1', 'kind': 'Gadget', 'metadata': {'name': 'g'}}

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            component = KubernetesResources(
                'k8s',
                [gadget, _crd(group, False)],
                client=_client(crd_never_established),
                crd_timeout=0.0,
            )
            self.reconciler.add(component)

    ctx = testing.Context(Charm, meta={'name': 'app'})
    state = ctx.run(
        ctx.on.config_changed(), testing.State(leader=True, model=testing.Model(name='model'))
    )

    assert state.unit_status == ops.WaitingStatus(
        f'[k8s] waiting for CRD gadgets.{group} to be Established before its resources'
    )
    paths = [path for _, path in server.calls]
    assert f'/apis/{group}/v1/namespaces/model/gadgets/g' not in paths
    assert '/api/v1/namespaces/model/configmaps/old' in server.objects  # not pruned yet


def test_a_kind_registered_by_the_charm_is_applied_to_its_plural():
    from lightkube.generic_resource import create_namespaced_resource

    create_namespaced_resource('unit-registered.example.com', 'v2', 'Doohickey', 'doohickeys')
    server = FakeApiServer()
    obj = {
        'apiVersion': 'unit-registered.example.com/v2',
        'kind': 'Doohickey',
        'metadata': {'name': 'd'},
    }
    state = _run_charm(_client(server), [obj])
    assert state.unit_status == ops.ActiveStatus()
    assert (
        'PATCH',
        '/apis/unit-registered.example.com/v2/namespaces/model/doohickeys/d',
    ) in server.calls


def test_remove_that_fails_half_way_keeps_the_rest_in_the_inventory(
    caplog: pytest.LogCaptureFixture,
):
    server = FakeApiServer()
    _run_charm(
        _client(server),
        [*_configmaps(['a']), {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'b'}}],
    )

    def forbid_configmap_delete(request: httpx2.Request) -> httpx2.Response:
        if request.method == 'DELETE' and request.url.path.endswith('/configmaps/a'):
            return _status_response(403, 'Forbidden', 'cannot delete configmaps')
        return server(request)

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            self.reconciler.add(
                KubernetesResources('k8s', [], client=_client(forbid_configmap_delete))
            )

    ctx = testing.Context(Charm, meta={'name': 'app'})
    ctx.run(
        ctx.on.remove(),
        testing.State(leader=True, planned_units=0, model=testing.Model(name='model')),
    )

    inventory = server.objects['/api/v1/namespaces/model/configmaps/app.k8s.inventory']
    assert [row[2:] for row in json.loads(inventory['data']['objects'])] == [
        ['ConfigMap', 'configmaps', 'model', 'a']
    ]
    assert '/api/v1/namespaces/model/services/b' not in server.objects  # deleted first
    assert any('forbidden to delete ConfigMap model/a' in r.getMessage() for r in caplog.records)


# ---- fuzzing: no API failure escapes as an exception ------------------------------------------


TRANSPORT_ERRORS = [
    httpx2.ConnectError('refused'),
    httpx2.ConnectTimeout('slow connect'),
    httpx2.ReadTimeout('slow read'),
    httpx2.WriteError('broken pipe'),
    httpx2.RemoteProtocolError('peer closed'),
    httpx2.ProxyError('proxy says no'),
]


@st.composite
def api_failures(draw: st.DrawFn) -> Callable[[httpx2.Request], httpx2.Response]:
    fail_at = draw(st.integers(min_value=0, max_value=6))
    failure: Exception | tuple[int, bool] = draw(
        st.one_of(
            st.sampled_from(TRANSPORT_ERRORS),
            st.tuples(st.integers(min_value=400, max_value=599), st.booleans()),
        )
    )
    server = FakeApiServer()
    count = [0]

    def handler(request: httpx2.Request) -> httpx2.Response:
        count[0] += 1
        if count[0] - 1 != fail_at:
            return server(request)
        if isinstance(failure, Exception):
            raise failure
        code, as_json = failure
        if as_json:
            return _status_response(code, 'Failure', f'injected {code}')
        return httpx2.Response(
            code, text=f'injected {code}', headers={'Content-Type': 'text/plain'}
        )

    return handler


@settings(max_examples=60, deadline=None)
@given(handler=api_failures())
def test_any_api_failure_becomes_a_status_not_an_exception(
    handler: Callable[[httpx2.Request], httpx2.Response],
):
    state = _run_charm(_client(handler), [*_configmaps(['a', 'b']), CONFIGMAP])
    assert state.unit_status.name in ('active', 'waiting', 'blocked')
    if state.unit_status.name != 'active':
        assert state.unit_status.message.startswith('[k8s] ')
