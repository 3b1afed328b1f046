"""Steady-state hooks of a k8s-service provider and requirer never import pydantic.

Each hook runs (ops.testing) in a fresh Python process, so `sys.modules` shows exactly what that
one hook imported: a provider publishing its valid Service never needs pydantic, and a requirer
needs it only in the first hook that sees new remote bytes (it remembers, unit-locally, what it
validated). The state of each hook (relation data, StoredState) is handed to the next one, as
Juju would.

Run as a script, this file is that one-hook probe: a JSON request on stdin, a JSON answer on
stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ops
from charms.reconcile_libs.v0.k8s_service import (
    K8sServiceProvider,
    K8sServiceRequirer,
    ServiceInfo,
    ServicePort,
)
from ops import testing

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_META = {'name': 'web', 'provides': {'k8s-service': {'interface': 'k8s-service'}}}
REQUIRER_META = {'name': 'proxy', 'requires': {'k8s-service': {'interface': 'k8s-service'}}}
CONFIG = {'options': {'port': {'type': 'int', 'default': 8080}}}
RELATION_ID = 7
EVENTS: list[str] = []


class ProviderCharm(ops.CharmBase):
    """A plain ops provider publishing one port from config."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.k8s_service = K8sServiceProvider(self, service=self._service)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _service(self) -> ServiceInfo:
        port = ServicePort(port=int(self.config['port']), name='http', app_protocol='http')
        return ServiceInfo(self.app.name, self.model.name, (port,))

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        event.add_status(self.k8s_service.get_status())


class RequirerCharm(ops.CharmBase):
    """A plain ops requirer that records its events and reads the service in each hook."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.backend = K8sServiceRequirer(self)
        framework.observe(self.backend.on.changed, self._on_backend_event)
        framework.observe(self.backend.on.removed, self._on_backend_event)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _on_backend_event(self, event: ops.RelationEvent) -> None:
        EVENTS.append(type(event).__name__)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        service = self.backend.service()
        EVENTS.append(f'port {service.port("http") if service else None}')
        event.add_status(self.backend.get_status())


# --- the probe (runs in the child process) --------------------------------------------------


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """Run one hook of the requested charm on the requested state; say what it imported."""
    provider = request['charm'] == 'provider'
    charm_type = ProviderCharm if provider else RequirerCharm
    ctx = testing.Context(
        charm_type, meta=PROVIDER_META if provider else REQUIRER_META, config=CONFIG
    )
    relation = testing.Relation(
        'k8s-service',
        id=RELATION_ID,
        remote_app_name='proxy' if provider else 'web',
        local_app_data=request['local_app_data'],
        remote_app_data=request['remote_app_data'],
    )
    stored = frozenset(
        testing.StoredState(name='_stored', owner_path=path, content=content)
        for path, content in request['stored'].items()
    )
    state = testing.State(
        leader=True,
        relations={relation},
        config=request['config'],
        stored_states=stored,
        model=testing.Model(name='shop'),
    )
    if request['hook'] == 'relation-changed':
        event = ctx.on.relation_changed(relation, remote_unit=0)
    elif request['hook'] == 'config-changed':
        event = ctx.on.config_changed()
    else:
        event = ctx.on.update_status()
    out = ctx.run(event, state)
    return {
        'pydantic': 'pydantic' in sys.modules,
        'status': [out.unit_status.name, out.unit_status.message],
        'local_app_data': dict(out.get_relation(RELATION_ID).local_app_data),
        'stored': {
            str(s.owner_path): dict(s.content)
            for s in out.stored_states
            if 'k8s-service' in str(s.owner_path)
        },
        'events': EVENTS,
    }


# --- the tests (run in the pytest process) --------------------------------------------------


def run_hook(
    charm: str,
    hook: str,
    *,
    remote: dict[str, str],
    local: dict[str, str] | None = None,
    stored: dict[str, Any] | None = None,
    config: dict[str, int] | None = None,
) -> dict[str, Any]:
    request = {
        'charm': charm,
        'hook': hook,
        'remote_app_data': remote,
        'local_app_data': local or {},
        'stored': stored or {},
        'config': config or {},
    }
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT / 'lib'), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


REQUIRER_ADVERTISED = {'versions': '[1,2]', 'version': '2'}


def test_a_provider_publishing_its_valid_service_never_imports_pydantic():
    first = run_hook('provider', 'config-changed', remote=REQUIRER_ADVERTISED)
    assert first['local_app_data']['v2'] == (
        '{"name":"web","namespace":"shop","ports":[{"app_protocol":"http","name":"http",'
        '"port":8080,"protocol":"TCP"}]}'
    )
    assert first['status'] == ['active', '']
    assert first['pydantic'] is False
    for hook in ('update-status', 'config-changed', 'relation-changed'):
        again = run_hook(
            'provider',
            hook,
            remote=REQUIRER_ADVERTISED,
            local=first['local_app_data'],
            stored=first['stored'],
        )
        assert again['pydantic'] is False, hook
        assert again['local_app_data'] == first['local_app_data'], hook
        assert again['status'] == ['active', ''], hook
    moved = run_hook(
        'provider',
        'config-changed',
        remote=REQUIRER_ADVERTISED,
        local=first['local_app_data'],
        stored=first['stored'],
        config={'port': 9090},
    )
    assert moved['pydantic'] is False
    assert '"port":9090' in moved['local_app_data']['v2']


def test_a_provider_with_an_invalid_service_loads_pydantic_to_name_the_field():
    # (the probe can see pydantic being imported: this is the counter-check of the test above)
    out = run_hook('provider', 'config-changed', remote=REQUIRER_ADVERTISED, config={'port': 0})
    assert out['pydantic'] is True
    assert out['status'] == [
        'blocked',
        'k8s-service: invalid service to publish: v1: port: '
        'Input should be greater than or equal to 1',
    ]


def _provider_bag(port: int) -> dict[str, str]:
    return run_hook('provider', 'config-changed', remote={}, config={'port': port})[
        'local_app_data'
    ]


def test_a_requirer_imports_pydantic_only_when_the_remote_bytes_change():
    provider_bag = _provider_bag(8080)
    first = run_hook('requirer', 'relation-changed', remote=provider_bag)
    assert first['pydantic'] is True  # new bytes: validated by the schema of record
    assert first['events'] == ['K8sServiceChangedEvent', 'port 8080']
    assert first['status'] == ['active', '']
    state = {'local': first['local_app_data'], 'stored': first['stored']}
    for hook in ('relation-changed', 'update-status', 'config-changed'):
        again = run_hook('requirer', hook, remote=provider_bag, **state)
        assert again['pydantic'] is False, hook
        assert again['events'] == ['port 8080'], hook  # no changed event, same data
        assert again['status'] == ['active', ''], hook
        assert again['local_app_data'] == first['local_app_data'], hook
        assert again['stored'] == first['stored'], hook
    moved = run_hook('requirer', 'relation-changed', remote=_provider_bag(9090), **state)
    assert moved['pydantic'] is True
    assert moved['events'] == ['K8sServiceChangedEvent', 'port 9090']
    settled = run_hook(
        'requirer',
        'update-status',
        remote=_provider_bag(9090),
        local=moved['local_app_data'],
        stored=moved['stored'],
    )
    assert settled['pydantic'] is False
    assert settled['events'] == ['port 9090']


def test_invalid_remote_data_is_validated_again_in_every_hook():
    bad = {**_provider_bag(8080), 'v2': '{"name":"web","namespace":"shop","ports":[]}'}
    first = run_hook('requirer', 'relation-changed', remote=bad)
    expected_status = [
        'blocked',
        'k8s-service: invalid data from web: v2: ports: '
        'List should have at least 1 item after validation, not 0',
    ]
    assert first['status'] == expected_status
    again = run_hook(
        'requirer',
        'update-status',
        remote=bad,
        local=first['local_app_data'],
        stored=first['stored'],
    )
    assert again['pydantic'] is True  # never remembered: checked again
    assert again['status'] == expected_status
    assert again['events'] == ['port None']


if __name__ == '__main__':
    print(json.dumps(probe(json.load(sys.stdin))))
