"""Unit tests of web-k8s with ops.testing: install to active, relation, config, removal."""

from __future__ import annotations

import json

import pytest
from charm import WebCharm
from ops import pebble, testing

MODEL = testing.Model(name='shop')


@pytest.fixture
def ctx() -> testing.Context[WebCharm]:
    return testing.Context(WebCharm)


def web(can_connect: bool = True) -> testing.Container:
    return testing.Container('web', can_connect=can_connect)


def test_install_without_pebble_waits_for_the_container(ctx: testing.Context[WebCharm]):
    out = ctx.run(ctx.on.install(), testing.State(containers={web(False)}, model=MODEL))
    assert out.unit_status == testing.WaitingStatus(
        "[web] waiting for Pebble in container 'web' (+1 more)"
    )


def test_pebble_ready_runs_the_server_serves_the_page_and_goes_active(
    ctx: testing.Context[WebCharm],
):
    out = ctx.run(ctx.on.pebble_ready(web()), testing.State(containers={web()}, model=MODEL))
    container = out.get_container('web')
    service = container.plan.services['web']
    assert service.command == 'python3 -m http.server 8080 --bind 0.0.0.0'
    assert service.working_dir == '/srv/web'
    assert container.service_statuses['web'] == pebble.ServiceStatus.ACTIVE
    page = (container.get_filesystem(ctx) / 'srv/web/index.html').read_text()
    assert 'hello from web-k8s' in page
    assert out.opened_ports == {testing.TCPPort(8080)}
    assert out.unit_status == testing.ActiveStatus()


def test_leader_publishes_the_service_in_every_common_version(ctx: testing.Context[WebCharm]):
    relation = testing.Relation(
        'k8s-service', remote_app_name='proxy', remote_app_data={'versions': '[1,2]'}
    )
    state = testing.State(leader=True, containers={web()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    data = out.get_relation(relation.id).local_app_data
    assert json.loads(data['versions']) == [1, 2]
    assert json.loads(data['version']) == 2
    assert json.loads(data['v1']) == {'name': 'web-k8s', 'namespace': 'shop', 'port': 8080}
    assert json.loads(data['v2'])['ports'] == [
        {'app_protocol': 'http', 'name': 'http', 'port': 8080, 'protocol': 'TCP'}
    ]
    # Until the requirer echoes the negotiated version, the provider says what it waits for.
    assert out.unit_status == testing.WaitingStatus(
        '[k8s-service] waiting for proxy to confirm v2'
    )
    confirmed = testing.Relation(
        'k8s-service',
        id=relation.id,
        remote_app_name='proxy',
        remote_app_data={'versions': '[1,2]', 'version': '2'},
        local_app_data=dict(data),
    )
    out = ctx.run(
        ctx.on.relation_changed(confirmed, remote_unit=0),
        testing.State(leader=True, containers={web()}, relations={confirmed}, model=MODEL),
    )
    assert out.unit_status == testing.ActiveStatus()


def test_a_second_identical_hook_writes_nothing(ctx: testing.Context[WebCharm]):
    relation = testing.Relation(
        'k8s-service', remote_app_name='proxy', remote_app_data={'versions': '[1,2]'}
    )
    state = testing.State(leader=True, containers={web()}, relations={relation}, model=MODEL)
    first = ctx.run(ctx.on.config_changed(), state)
    second = ctx.run(ctx.on.update_status(), first)
    assert second.get_relation(relation.id).local_app_data == (
        first.get_relation(relation.id).local_app_data
    )


def test_config_change_rewrites_the_page_and_republishes_the_port(ctx: testing.Context[WebCharm]):
    relation = testing.Relation(
        'k8s-service', remote_app_name='proxy', remote_app_data={'versions': '[2]'}
    )
    state = testing.State(
        leader=True,
        containers={web()},
        relations={relation},
        model=MODEL,
        config={'port': 9090, 'greeting': 'bonjour'},
    )
    out = ctx.run(ctx.on.config_changed(), state)
    container = out.get_container('web')
    assert 'bonjour' in (container.get_filesystem(ctx) / 'srv/web/index.html').read_text()
    assert container.plan.services['web'].command == 'python3 -m http.server 9090 --bind 0.0.0.0'
    data = out.get_relation(relation.id).local_app_data
    assert json.loads(data['v2'])['ports'][0]['port'] == 9090
    assert 'v1' not in data  # the requirer only speaks v2
    assert out.opened_ports == {testing.TCPPort(9090)}


@pytest.mark.parametrize(
    ('config', 'message'),
    [
        ({'port': 0}, 'port must be between 1 and 65535, not 0'),
        ({'greeting': ''}, 'greeting must be one line of 1 to 200 characters'),
    ],
)
def test_bad_config_blocks_naming_the_option_and_changes_nothing(
    ctx: testing.Context[WebCharm], config: dict[str, str | int], message: str
):
    state = testing.State(containers={web()}, model=MODEL, config=config)
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status.name == 'blocked'
    assert out.unit_status.message.startswith(f'[config] invalid config: {message}')
    assert out.get_container('web').plan.services == {}


def test_non_leader_serves_but_does_not_write_app_data(ctx: testing.Context[WebCharm]):
    relation = testing.Relation(
        'k8s-service', remote_app_name='proxy', remote_app_data={'versions': '[1,2]'}
    )
    state = testing.State(leader=False, containers={web()}, relations={relation}, model=MODEL)
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
    assert out.get_relation(relation.id).local_app_data == {}
    assert out.get_container('web').plan.services['web'].startup == 'enabled'


def test_show_conditions_action_prints_every_component(ctx: testing.Context[WebCharm]):
    state = ctx.run(ctx.on.pebble_ready(web()), testing.State(containers={web()}, model=MODEL))
    ctx.run(ctx.on.action('show-conditions'), state)
    table = str((ctx.action_results or {})['conditions'])
    assert [line.split()[0] for line in table.splitlines()] == [
        'COMPONENT',
        'config',
        'web',
        'ports',
        'k8s-service',
    ]


def test_remove_is_clean(ctx: testing.Context[WebCharm]):
    out = ctx.run(ctx.on.remove(), testing.State(leader=True, containers={web()}, model=MODEL))
    assert out is not None
