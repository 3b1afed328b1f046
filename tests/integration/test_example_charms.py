"""Both example charms on a real Juju + MicroK8s: deploy, relate, serve, scale, remove.

Skips (module-wide) without a Juju controller or packed charms; see juju_env.py.
"""

from __future__ import annotations

import jubilant
import pytest

from tests.integration.juju_env import charm_file, resources

WEB, PROXY = 'web-k8s', 'proxy-k8s'
GREETING = 'hello from the integration test'
FETCH = (
    'import urllib.request;'
    "print(urllib.request.urlopen('http://localhost:8000/', timeout=10).read().decode())"
)


def through_proxy(juju: jubilant.Juju, unit: str) -> str:
    return juju.ssh(unit, 'python3', '-c', f'"{FETCH}"', container='proxy')


def conditions(juju: jubilant.Juju, unit: str) -> str:
    return juju.run(unit, 'show-conditions').results['conditions']


@pytest.fixture(scope='module')
def deployed(juju: jubilant.Juju) -> jubilant.Juju:
    juju.deploy(charm_file(WEB), WEB, resources=resources(WEB), config={'greeting': GREETING})
    juju.deploy(charm_file(PROXY), PROXY, resources=resources(PROXY), trust=True)
    juju.integrate(f'{WEB}:k8s-service', f'{PROXY}:backend')
    juju.wait(jubilant.all_active, error=jubilant.any_error)
    return juju


def test_related_charms_go_active_and_negotiate_v2(deployed: jubilant.Juju):
    status = deployed.status()
    assert status.apps[WEB].app_status.current == 'active'
    assert status.apps[PROXY].app_status.current == 'active'
    table = conditions(deployed, f'{PROXY}/0')
    assert 'backend' in table
    assert 'route' in table


def test_a_request_through_the_proxy_reaches_the_web_server(deployed: jubilant.Juju):
    assert GREETING in through_proxy(deployed, f'{PROXY}/0')


def test_a_config_change_reaches_the_page(deployed: jubilant.Juju):
    deployed.config(WEB, {'greeting': 'changed greeting'})
    deployed.wait(jubilant.all_active, error=jubilant.any_error)
    assert 'changed greeting' in through_proxy(deployed, f'{PROXY}/0')


def test_scale_up_then_down_keeps_serving_and_keeps_the_route(deployed: jubilant.Juju):
    deployed.add_unit(PROXY, num_units=1)
    deployed.wait(
        lambda status: jubilant.all_active(status) and len(status.apps[PROXY].units) == 2,
        error=jubilant.any_error,
    )
    units = sorted(deployed.status().apps[PROXY].units)
    for unit in units:
        assert 'changed greeting' in through_proxy(deployed, unit)
    leader = next(u for u, s in deployed.status().apps[PROXY].units.items() if s.leader)
    follower = next(u for u in units if u != leader)
    deployed.remove_unit(follower)
    deployed.wait(
        lambda status: jubilant.all_active(status) and len(status.apps[PROXY].units) == 1,
        error=jubilant.any_error,
    )
    # A non-leader's removal must not delete the application's Kubernetes objects.
    route = next(
        line for line in conditions(deployed, leader).splitlines() if line.startswith('route')
    )
    assert ' yes ' in route


def test_removal_is_clean(deployed: jubilant.Juju):
    deployed.remove_application(PROXY, WEB)
    deployed.wait(lambda status: not status.apps)
