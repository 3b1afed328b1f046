"""Unit tests of proxy-k8s with ops.testing: install to active, relation, config, removal."""

from __future__ import annotations

import json

import pytest
from charm import ProxyCharm
from ops import pebble, testing

MODEL = testing.Model(name='shop')
V2 = json.dumps(
    {
        'name': 'web',
        'namespace': 'shop',
        'ports': [{'app_protocol': 'http', 'name': 'http', 'port': 8080, 'protocol': 'TCP'}],
    },
    separators=(',', ':'),
    sort_keys=True,
)


@pytest.fixture
def ctx() -> testing.Context[ProxyCharm]:
    return testing.Context(ProxyCharm)


def proxy(can_connect: bool = True) -> testing.Container:
    return testing.Container('proxy', can_connect=can_connect)


def backend(**remote: str) -> testing.Relation:
    data = {'versions': '[1,2]', 'version': '2', 'v2': V2}
    data.update(remote)
    return testing.Relation('backend', remote_app_name='web', remote_app_data=data)


def upstream_file(ctx: testing.Context[ProxyCharm], out: testing.State) -> dict[str, object]:
    path = out.get_container('proxy').get_filesystem(ctx) / 'srv/proxy/upstream.json'
    return json.loads(path.read_text())


def test_without_a_backend_relation_the_proxy_blocks_with_the_remedy(
    ctx: testing.Context[ProxyCharm],
):
    out = ctx.run(ctx.on.install(), testing.State(containers={proxy()}, model=MODEL))
    assert out.unit_status == testing.BlockedStatus(
        '[backend] missing relation: run juju integrate proxy-k8s:backend '
        '<an application providing k8s-service> (+1 more)'
    )
    assert out.get_container('proxy').plan.services == {}


def test_relation_data_configures_and_starts_the_proxy(ctx: testing.Context[ProxyCharm]):
    relation = backend()
    state = testing.State(containers={proxy()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    container = out.get_container('proxy')
    assert container.plan.services['proxy'].command == 'python3 proxy_server.py upstream.json'
    assert container.service_statuses['proxy'] == pebble.ServiceStatus.ACTIVE
    assert upstream_file(ctx, out) == {'port': 8000, 'upstream': 'http://web.shop.svc:8080'}
    assert out.opened_ports == {testing.TCPPort(8000)}
    assert out.unit_status == testing.ActiveStatus()  # non-leader: the route is the leader's


def test_a_v1_only_provider_works_too(ctx: testing.Context[ProxyCharm]):
    v1 = json.dumps({'name': 'old', 'namespace': 'shop', 'port': 80}, separators=(',', ':'))
    relation = testing.Relation(
        'backend', remote_app_name='old', remote_app_data={'versions': '[1]', 'v1': v1}
    )
    state = testing.State(containers={proxy()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    assert upstream_file(ctx, out)['upstream'] == 'http://old.shop.svc:80'


def test_a_legacy_mlops_provider_is_read_as_version_zero(ctx: testing.Context[ProxyCharm]):
    relation = testing.Relation(
        'backend', remote_app_name='legacy', remote_app_data={'name': 'legacy', 'port': '9000'}
    )
    state = testing.State(containers={proxy()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    assert str(upstream_file(ctx, out)['upstream']).endswith(':9000')


def test_upstream_override_wins_over_the_relation(ctx: testing.Context[ProxyCharm]):
    relation = backend()
    state = testing.State(
        containers={proxy()},
        relations={relation},
        model=MODEL,
        config={'upstream-override': '127.0.0.1:8080'},
    )
    out = ctx.run(ctx.on.config_changed(), state)
    assert upstream_file(ctx, out)['upstream'] == 'http://127.0.0.1:8080'


@pytest.mark.parametrize(
    ('config', 'message'),
    [
        ({'port': 70000}, 'port must be between 1 and 65535, not 70000'),
        ({'upstream-override': 'nonsense'}, "upstream-override must be host:port, not 'nonsense'"),
    ],
)
def test_bad_config_blocks_naming_the_option(
    ctx: testing.Context[ProxyCharm], config: dict[str, str | int], message: str
):
    state = testing.State(containers={proxy()}, relations={backend()}, model=MODEL, config=config)
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status.name == 'blocked'
    assert out.unit_status.message.startswith(f'[config] invalid config: {message}')


def test_invalid_relation_data_blocks_naming_the_field(ctx: testing.Context[ProxyCharm]):
    bad = json.dumps({'name': 'web', 'namespace': 'shop', 'ports': [{'port': 0}]})
    relation = backend(v2=bad)
    state = testing.State(containers={proxy()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    assert out.unit_status.name == 'blocked'
    assert 'ports[0].port' in out.unit_status.message


def test_leader_without_cluster_access_blocks_the_route_only(ctx: testing.Context[ProxyCharm]):
    relation = backend()
    state = testing.State(leader=True, containers={proxy()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    # The proxy still runs; the route (a Kubernetes object) reports why it cannot be created.
    assert out.get_container('proxy').service_statuses['proxy'] == pebble.ServiceStatus.ACTIVE
    assert out.unit_status.name == 'blocked'
    assert out.unit_status.message.startswith('[route] ')


def test_remove_on_a_non_leader_touches_nothing(ctx: testing.Context[ProxyCharm]):
    out = ctx.run(ctx.on.remove(), testing.State(leader=False, containers={proxy()}, model=MODEL))
    assert out is not None
