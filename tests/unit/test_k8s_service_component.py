"""The k8s-service reconciler components inside a CharmReconciler (ops.testing)."""

from __future__ import annotations

from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0.k8s_service import (
    K8sServiceRequirer,
    K8sServiceRequirerComponent,
    ServiceInfo,
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
