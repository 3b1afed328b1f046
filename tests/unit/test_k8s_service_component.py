"""The k8s-service reconciler components inside a CharmReconciler (ops.testing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0.k8s_service import (
    K8sServiceProvider,
    K8sServiceProviderComponent,
    K8sServiceRequirer,
    K8sServiceRequirerComponent,
    ServiceInfo,
    ServicePort,
    reader_step,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler, Component, ReconcileContext
from ops import testing

META: dict[str, Any] = {'name': 'consumer', 'requires': {'backend': {'interface': 'k8s-service'}}}
V2 = '{"name":"web","namespace":"shop","ports":[{"name":"http","port":8080,"protocol":"TCP"}]}'
SEEN: list[list[ServiceInfo]] = []


def charm_type(required: bool) -> type[ops.CharmBase]:
    class Uses(Component[None]):
        def __init__(self, backend: K8sServiceRequirerComponent) -> None:
            super().__init__('uses')
            self.backend = backend

        def reconcile(self, ctx: ReconcileContext) -> None:
            SEEN.append(ctx.output_of(self.backend))

    class Consumer(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            reconciler = self.reconciler = CharmReconciler(self)
            self.requirer = requirer = K8sServiceRequirer(self, 'backend', observe=False)
            backend = reconciler.add(
                K8sServiceRequirerComponent(requirer, name='backend', required=required)
            )
            reconciler.add(Uses(backend), depends_on=[backend])

    return Consumer


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_a_required_relation_that_is_missing_blocks_with_the_remedy():
    ctx = testing.Context(charm_type(required=True), meta=META)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.BlockedStatus(
        '[backend] missing relation: run juju integrate consumer:backend '
        '<an application providing k8s-service> (+1 more)'
    )
    assert SEEN == []


def test_an_optional_relation_that_is_missing_gives_dependents_an_empty_list():
    ctx = testing.Context(charm_type(required=False), meta=META)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.ActiveStatus()
    assert SEEN == [[]]


def test_data_reaches_dependents_as_canonical_service_info():
    ctx = testing.Context(charm_type(required=True), meta=META)
    relation = testing.Relation(
        'backend', remote_app_data={'versions': '[1,2]', 'version': '2', 'v2': V2}
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0), testing.State(relations={relation})
    )
    assert out.unit_status == testing.ActiveStatus()
    assert [service.host() for service in SEEN[0]] == ['web.shop.svc']
    assert SEEN[0][0].port('http') == 8080


def test_a_related_provider_that_has_not_sent_data_yet_is_waiting_not_blocked():
    ctx = testing.Context(charm_type(required=True), meta=META)
    relation = testing.Relation('backend')
    out = ctx.run(ctx.on.relation_created(relation), testing.State(relations={relation}))
    assert out.unit_status.name == 'waiting'
    assert SEEN == []


# --- relation-broken in reconciler mode ------------------------------------------------------

REMOVED: list[tuple[int, str | None]] = []


class RemovalWatcher(ops.CharmBase):
    """A reconciler-driven requirer (observe=False) whose charm records `removed` events."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.requirer = K8sServiceRequirer(self, 'backend', observe=False)
        self.reconciler.add(
            K8sServiceRequirerComponent(self.requirer, name='backend', required=False)
        )
        framework.observe(self.requirer.on.removed, self._on_removed)

    def _on_removed(self, event: ops.RelationEvent) -> None:
        REMOVED.append((event.relation.id, event.app.name if event.app else None))


def test_relation_broken_emits_removed_and_forgets_the_relation():
    REMOVED.clear()
    ctx = testing.Context(RemovalWatcher, meta=META)
    relation = testing.Relation(
        'backend', remote_app_name='web', remote_app_data={'versions': '[1,2]', 'v2': V2}
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation}),
    )
    assert _tokens(out) == {str(relation.id)}
    assert REMOVED == []

    out = ctx.run(ctx.on.relation_broken(out.get_relation(relation.id)), out)
    assert [(relation.id, 'web')] == REMOVED
    assert _tokens(out) == set()
    assert out.unit_status == testing.ActiveStatus()

    # steady state afterwards: nothing more is emitted
    ctx.run(ctx.on.update_status(), dataclasses.replace(out, relations=set()))
    assert [(relation.id, 'web')] == REMOVED


def test_relation_broken_without_data_emits_nothing_but_still_forgets():
    REMOVED.clear()
    ctx = testing.Context(RemovalWatcher, meta=META)
    relation = testing.Relation(
        'backend', remote_app_name='web', remote_app_data={'versions': '[1,2]', 'v2': '{'}
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation}),
    )
    assert out.unit_status.name == 'blocked'
    assert _tokens(out) == {str(relation.id)}  # the invalid-data token
    out = ctx.run(ctx.on.relation_broken(out.get_relation(relation.id)), out)
    assert REMOVED == []
    assert _tokens(out) == set()


def _tokens(state: testing.State) -> set[str]:
    stored = [s for s in state.stored_states if 'k8s-service-backend' in str(s.owner_path)]
    assert len(stored) == 1, state.stored_states
    return set(stored[0].content['tokens'])


# --- the provider component with no service yet ----------------------------------------------

PROVIDER_META: dict[str, Any] = {
    'name': 'web',
    'provides': {'backend': {'interface': 'k8s-service'}},
}
PROVIDER_CONFIG: dict[str, Any] = {'options': {'port': {'type': 'int'}}}


class Provider(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.provider = K8sServiceProvider(self, 'backend', observe=False)
        self.reconciler.add(
            K8sServiceProviderComponent(self.provider, self._service, name='backend')
        )

    def _service(self, ctx: ReconcileContext) -> ServiceInfo | None:
        port = self.config.get('port')
        if port is None:
            return None
        return ServiceInfo('web', 'shop', (ServicePort(int(port), 'http'),))


def test_a_provider_without_a_service_still_advertises_and_waits():
    ctx = testing.Context(Provider, meta=PROVIDER_META, config=PROVIDER_CONFIG)
    relation = testing.Relation(
        'backend', remote_app_name='proxy', remote_app_data={'versions': '[1,2]'}
    )
    out = ctx.run(
        ctx.on.relation_created(relation), testing.State(leader=True, relations={relation})
    )
    assert out.get_relation(relation.id).local_app_data == {'versions': '[1,2]', 'version': '2'}
    assert out.unit_status == testing.WaitingStatus('[backend] no service to publish yet')


def test_a_provider_whose_service_goes_away_withdraws_the_payloads():
    ctx = testing.Context(Provider, meta=PROVIDER_META, config=PROVIDER_CONFIG)
    relation = testing.Relation(
        'backend', remote_app_name='proxy', remote_app_data={'versions': '[1,2]', 'version': '2'}
    )
    state = testing.State(leader=True, relations={relation}, config={'port': 8080})
    out = ctx.run(ctx.on.config_changed(), state)
    assert set(out.get_relation(relation.id).local_app_data) == {'versions', 'version', 'v1', 'v2'}
    assert out.unit_status == testing.ActiveStatus()

    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(out, config={}))
    assert out.get_relation(relation.id).local_app_data == {'versions': '[1,2]', 'version': '2'}
    assert out.unit_status == testing.WaitingStatus('[backend] no service to publish yet')

    # what a requirer then reads: the provider's versions, no data, not "advertise versions"
    result = reader_step(
        {1, 2}, dict(out.get_relation(relation.id).local_app_data), 'data:x', remote_app='web'
    )
    assert result.events == ('removed',)
    assert result.status.name == 'waiting'
    assert 'advertise protocol versions' not in result.status.message
