"""Run minimal charms against an installed copy of the libs (not the repo's lib/).

Usage: python lib_consumer_check.py <lib dir> <module> [<module> ...]

Test infrastructure for charmcraft/test_charmcraft_libs.py and test_wheel.py, run in a
subprocess whose sys.path holds only the copies under test (a charm's lib/ from fetch-lib, or a
clean venv's site-packages). For each module it checks that it is imported from <lib dir> and that
every name in its `__all__` exists; then it drives small charms through ops.testing (Scenario):
the reconciler's roll-up of a blocked component; a PebbleWorkload that plans a service; a
k8s-service provider whose published data a requirer reads; a leader-only KubernetesResources
skipped on a non-leader without importing lightkube (each when its lib is among the modules).
Prints one `ok: ...` line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import ops
from ops import testing

PACKAGE = 'charms.reconcile_libs.v0'


def check_module(lib_dir: Path, name: str) -> None:
    module = importlib.import_module(name)
    origin = Path(str(module.__file__)).resolve()
    if lib_dir.resolve() not in origin.parents:
        raise SystemExit(f'{name} was imported from {origin}, not from {lib_dir}')
    missing = [attr for attr in module.__all__ if not hasattr(module, attr)]
    if missing:
        raise SystemExit(f'{name}.__all__ names missing attributes: {missing}')
    print(f'ok: import {name} from {origin} ({len(module.__all__)} public names)')


def check_reconciler() -> None:
    reconciler: Any = importlib.import_module(f'{PACKAGE}.reconciler')

    class Greeting(reconciler.Component):
        def __init__(self) -> None:
            super().__init__('greeting')

        def reconcile(self, ctx: Any) -> str:
            name = str(ctx.charm.config.get('name', ''))
            if not name:
                raise reconciler.BlockedError("set the 'name' config option")
            return f'hello, {name}'

    class GreetingCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = reconciler.CharmReconciler(self)
            self.reconciler.add(Greeting())

    ctx = testing.Context(
        GreetingCharm,
        meta={'name': 'greeting'},
        config={'options': {'name': {'type': 'string', 'default': ''}}},
    )
    out = ctx.run(ctx.on.config_changed(), testing.State(leader=True))
    expected = testing.BlockedStatus("[greeting] set the 'name' config option")
    if out.unit_status != expected:
        raise SystemExit(f'reconciler: expected {expected}, got {out.unit_status}')
    out = ctx.run(ctx.on.config_changed(), testing.State(leader=True, config={'name': 'x'}))
    if out.unit_status != testing.ActiveStatus():
        raise SystemExit(f'reconciler: expected active, got {out.unit_status}')
    print('ok: reconciler charm blocked without config, active with it')


def check_pebble_components() -> None:
    reconciler: Any = importlib.import_module(f'{PACKAGE}.reconciler')
    pebble_components: Any = importlib.import_module(f'{PACKAGE}.pebble_components')

    def spec(ctx: Any) -> Any:
        return pebble_components.WorkloadSpec(
            services=[pebble_components.ServiceSpec('web', 'python3 -m http.server 8080')],
        )

    class WebCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = reconciler.CharmReconciler(self)
            self.reconciler.add(
                pebble_components.PebbleWorkload('web', container='web', spec=spec)
            )

    ctx = testing.Context(WebCharm, meta={'name': 'web', 'containers': {'web': {}}})
    container = testing.Container('web', can_connect=True)
    out = ctx.run(ctx.on.pebble_ready(container), testing.State(containers={container}))
    services = out.get_container('web').plan.services
    if 'web' not in services or services['web'].command != 'python3 -m http.server 8080':
        raise SystemExit(f'pebble_components: service not planned, plan has {services}')
    print(f'ok: pebble_components planned service web, unit status {out.unit_status}')


def check_k8s_service() -> None:
    """A provider charm publishes, a requirer charm reads what it published (two Scenario runs)."""
    ks: Any = importlib.import_module(f'{PACKAGE}.k8s_service')

    class Provider(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.k8s = ks.K8sServiceProvider(self, service=self._service)

        def _service(self) -> Any:
            port = ks.ServicePort(8080, 'http', app_protocol='http')
            return ks.ServiceInfo(self.app.name, self.model.name, (port,))

    class Requirer(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.backend = ks.K8sServiceRequirer(self)
            framework.observe(self.backend.on.changed, self._on_changed)

        def _on_changed(self, event: ops.EventBase) -> None:
            service = self.backend.service()
            self.unit.status = ops.ActiveStatus(f'{service.host()}:{service.port("http")}')

    endpoint = {'k8s-service': {'interface': 'k8s-service'}}
    provider = testing.Context(Provider, meta={'name': 'web', 'provides': endpoint})
    requirer = testing.Context(Requirer, meta={'name': 'proxy', 'requires': endpoint})
    to_requirer = testing.Relation('k8s-service', remote_app_name='proxy')
    out = provider.run(
        provider.on.relation_created(to_requirer),
        testing.State(leader=True, relations={to_requirer}, model=testing.Model(name='shop')),
    )
    published = dict(out.get_relation(to_requirer.id).local_app_data)
    to_provider = testing.Relation('k8s-service', remote_app_name='web', remote_app_data=published)
    out = requirer.run(
        requirer.on.relation_changed(to_provider, remote_unit=0),
        testing.State(leader=True, relations={to_provider}),
    )
    expected = testing.ActiveStatus('web.shop.svc:8080')
    if out.unit_status != expected:
        raise SystemExit(f'k8s_service: expected {expected}, got {out.unit_status}')
    advertised = json.loads(out.get_relation(to_provider.id).local_app_data['versions'])
    print(
        f'ok: k8s_service provider published {sorted(published)}, requirer read it and '
        f'advertised {advertised}'
    )


def check_kubernetes_components() -> None:
    """A non-leader skips the leader-only component without importing lightkube."""
    reconciler: Any = importlib.import_module(f'{PACKAGE}.reconciler')
    kc: Any = importlib.import_module(f'{PACKAGE}.kubernetes_components')
    config_map = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'settings'}}

    class K8sCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = reconciler.CharmReconciler(self)
            self.reconciler.add(kc.KubernetesResources('k8s', [config_map]))

    ctx = testing.Context(K8sCharm, meta={'name': 'k8s'})
    with ctx(ctx.on.config_changed(), testing.State(leader=False)) as manager:
        out = manager.run()
        (condition,) = manager.charm.reconciler.conditions
    if out.unit_status != testing.ActiveStatus() or condition.reason != 'LeaderOnly':
        raise SystemExit(f'kubernetes_components: got {out.unit_status}, {condition}')
    if 'lightkube' in sys.modules:
        raise SystemExit('kubernetes_components: lightkube was imported without being used')
    print('ok: kubernetes_components skipped on a non-leader, lightkube not imported')


def main() -> None:
    lib_dir = Path(sys.argv[1])
    modules = sys.argv[2:]
    for name in modules:
        check_module(lib_dir, name)
    if f'{PACKAGE}.reconciler' in modules:
        check_reconciler()
    if f'{PACKAGE}.pebble_components' in modules:
        check_pebble_components()
    if f'{PACKAGE}.k8s_service' in modules:
        check_k8s_service()
    if f'{PACKAGE}.kubernetes_components' in modules:
        check_kubernetes_components()


if __name__ == '__main__':
    main()
