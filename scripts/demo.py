"""The main job: both example charms in a local sandbox, told hook by hook.

Run it with `scripts/tox -e demo` (or `python scripts/demo.py` in an environment with the dev
requirements). Hooks run through ops' testing framework; workloads run under real Pebble daemons
when a `pebble` binary exists (`scripts/build-pebble.sh`), simulated otherwise (and it says so);
relation data is passed between the two charms after every hook; the proxy's route ConfigMap goes
to a real kube-apiserver when `scripts/build-envtest.sh` has built one. The story ends with an HTTP
request through proxy-k8s's workload reaching web-k8s's, then shows an older requirer that still
works and an incompatible pair that is blocked with its remedy.

Options: `--simulate` (no real Pebble even when available), `--no-kubernetes`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'scripts'), str(ROOT / 'lib'), str(ROOT)]

from charms.reconcile_libs.v0.k8s_service import SUPPORTED_VERSIONS  # noqa: E402
from sandbox import Link, Sandbox, Unit, load_charm, sandbox  # noqa: E402

WEB_PORT, PROXY_PORT, LEGACY_PROXY_PORT = 18080, 18000, 18001
Event = Callable[[Any], Any]


def title(text: str) -> None:
    print(f'\n\033[1m== {text}\033[0m', flush=True)


def status_text(unit: Unit) -> str:
    status = unit.state.unit_status
    return f'{status.name}' + (f': {status.message}' if status.message else '')


def databag_change(before: dict[str, str], after: dict[str, str]) -> str:
    parts = [f'+{key}={_short(after[key])}' for key in sorted(after) if key not in before]
    parts += [
        f'~{key}={_short(after[key])}'
        for key in sorted(after)
        if key in before and before[key] != after[key]
    ]
    parts += [f'-{key}' for key in sorted(before) if key not in after]
    return ' '.join(parts)


def payload_keys(data: dict[str, str]) -> list[str]:
    """The `v<N>` payload keys of a provider's databag."""
    return sorted(key for key in data if key.startswith('v') and key[1:].isdigit())


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + '...'


def hook(unit: Unit, label: str, event: Event, links: Sequence[Link] = ()) -> bool:
    """Run one hook; print the status and what the unit wrote to relation data."""
    before = {link.relation_id: link.app_data(unit) for link in links if _has(link, unit)}
    unit.run(event)
    wrote = []
    for link in links:
        if _has(link, unit):
            change = databag_change(before[link.relation_id], link.app_data(unit))
            if change:
                wrote.append(f'rel {link.relation_id}: {change}')
    print(f'  {unit.name:15} {label:34} {status_text(unit)}')
    for line in wrote:
        print(f'  {"":15} {"":34}   wrote {line}')
    return bool(wrote)


def _has(link: Link, unit: Unit) -> bool:
    return any(r.id == link.relation_id for r in unit.state.relations)


def deploy(units: Sequence[Unit]) -> None:
    for unit in units:
        hook(unit, 'install', lambda ctx: ctx.on.install())
        if unit.state.leader:
            hook(unit, 'leader-elected', lambda ctx: ctx.on.leader_elected())
        hook(unit, 'config-changed', lambda ctx: ctx.on.config_changed())
        hook(unit, 'start', lambda ctx: ctx.on.start())
        for container in unit.state.containers:
            hook(
                unit,
                f'{container.name}-pebble-ready',
                lambda ctx, c=container: ctx.on.pebble_ready(c),
            )


def relate(link: Link, *, has_data: Callable[[], bool], max_rounds: int = 6) -> tuple[int, int]:
    """Relate, then run synchronous rounds: every unit runs one relation hook seeing the other
    side's data as of the previous round. Returns (first round with data, first quiet round)."""
    link.add()
    sides = [(u, link.provider_endpoint) for u in link.provider] + [
        (u, link.requirer_endpoint) for u in link.requirer
    ]
    data_round = quiet_round = 0
    for round_number in range(1, max_rounds + 1):
        print(f'  -- round {round_number}')
        changed = False
        for unit, endpoint in sides:
            relation = link.relation_of(unit)
            if round_number == 1:
                event: Event = lambda ctx, r=relation: ctx.on.relation_created(r)  # noqa: E731
                label = f'{endpoint}-relation-created'
            else:
                event = lambda ctx, r=relation: ctx.on.relation_changed(r, remote_unit=0)  # noqa: E731
                label = f'{endpoint}-relation-changed'
            changed |= hook(unit, label, event, [link])
        link.sync()  # the round's writes become visible to the other side only now
        if not data_round and has_data():
            data_round = round_number
        if round_number > 1 and not changed:
            quiet_round = round_number
            break
    return data_round, quiet_round


def conditions(unit: Unit) -> None:
    print(f'  conditions of {unit.name}:')
    for line in _table(unit).splitlines():
        print(f'    {line}')


def _table(unit: Unit) -> str:
    rows = [('COMPONENT', 'READY', 'REASON', 'INPUTS', 'MESSAGE')]
    rows += [
        (c.component, 'yes' if c.ready else 'no', c.reason, c.inputs_hash or '-', c.message)
        for c in unit.last_conditions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return '\n'.join(
        '  '.join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + '  ' + row[4]
        for row in rows
    )


def request(url: str, timeout: float = 15.0) -> tuple[int, str, dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def show_request(box: Sandbox, port: int, expect: str) -> None:
    if not box.pebble:
        print(f'  (skipped: workloads are simulated, nothing listens on :{port})')
        return
    url = f'http://127.0.0.1:{port}/'
    status, body, headers = request(url)
    greeting = body.split('<p id="greeting">')[-1].split('</p>')[0] if 'greeting' in body else body
    print(f'  GET {url} -> {status}, Via: {headers.get("Via", "-")}, page says: {greeting!r}')
    if expect not in body:
        raise SystemExit(f'demo failed: expected {expect!r} in the response, got {body[:200]!r}')


def show_route(box: Sandbox, app: str) -> None:
    if box.envtest is None:
        print(
            f'  (no kube-apiserver: {box.kubernetes_note or "not started"}; '
            f'the route component reports it)'
        )
        return
    from lightkube.resources.core_v1 import ConfigMap

    from tests.functional.kubernetes.k8s_envtest import make_client

    client, _ = make_client(box.envtest)
    route = client.get(ConfigMap, f'{app}-route', namespace='demo')
    print(f'  ConfigMap demo/{app}-route in the API server: {dict(route.data or {})}')


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--simulate', action='store_true', help='do not use real Pebble')
    parser.add_argument('--no-kubernetes', action='store_true', help='do not start kube-apiserver')
    args = parser.parse_args()
    web_dir, proxy_dir = ROOT / 'charms' / 'web-k8s', ROOT / 'charms' / 'proxy-k8s'
    web_charm, proxy_charm = load_charm(web_dir), load_charm(proxy_dir)

    class ProxyV1Only(proxy_charm):
        """proxy-k8s as an older release would be: it only speaks wire version 1."""

        wire_versions = frozenset({1})

    class WebV2Only(web_charm):
        """web-k8s as a newer release would be: it dropped wire version 1."""

        wire_versions = frozenset({2})

    # The proxy connects to the Service name it received (web-k8s.demo.svc); there is no cluster
    # DNS here, so the proxy program is told that name's address (see proxy_server.py).
    os.environ['PROXY_RESOLVE'] = 'web-k8s.demo.svc=127.0.0.1'

    with sandbox(real_pebble=not args.simulate, kubernetes=not args.no_kubernetes) as box:
        title('reconcile-libs sandbox: web-k8s (provider) and proxy-k8s (requirer)')
        if box.pebble:
            print(f'  Pebble: real daemons, pebble {box.pebble[1]} ({box.pebble[0]})')
        else:
            print(
                '  Pebble: SIMULATED by ops.testing (no pebble binary: run '
                'scripts/build-pebble.sh for real processes)'
            )
        print(f'  Kubernetes: {box.kubernetes_note or "not started (--no-kubernetes)"}')
        print(f'  wire versions this code speaks: {sorted(SUPPORTED_VERSIONS)}')

        web = box.unit(web_charm, web_dir, 'web-k8s/0', leader=True, config={'port': WEB_PORT})
        proxy = box.unit(
            proxy_charm, proxy_dir, 'proxy-k8s/0', leader=True, config={'port': PROXY_PORT}
        )

        title('1. Deploy: each unit runs its lifecycle hooks')
        deploy([web, proxy])
        conditions(proxy)

        title('2. Relate web-k8s:k8s-service to proxy-k8s:backend (synchronous hook rounds)')
        link = Link([web], 'k8s-service', [proxy], 'backend', relation_id=1)
        data_round, quiet_round = relate(
            link,
            has_data=lambda: any(
                c.component == 'backend' and c.ready for c in proxy.last_conditions
            ),
        )
        provider_data = link.app_data(web)
        print(
            f'  negotiated: web-k8s advertises {provider_data.get("versions")}, proxy-k8s '
            f'{link.app_data(proxy).get("versions")}; version {provider_data.get("version")}; '
            f'published keys {payload_keys(provider_data)}'
        )
        print(
            f'  the requirer had usable data after round {data_round}; '
            f'the relation was quiet after round {quiet_round} (targets: 2 and 3)'
        )
        conditions(proxy)

        title('3. A request through proxy-k8s reaches web-k8s')
        show_request(box, PROXY_PORT, 'hello from web-k8s')
        show_route(box, 'proxy-k8s')

        title('4. Change web-k8s greeting: the page changes, the relation does not')
        web.state = _with_config(web, greeting='hello again, via the reconciler')
        hook(web, 'config-changed', lambda ctx: ctx.on.config_changed(), [link])
        show_request(box, PROXY_PORT, 'hello again')

        title('5. Steady state: update-status on every unit')
        before_writes = {u.name: link.app_data(u) for u in (web, proxy)}
        mutations_before = sum(len(c.mutating()) for u in (web, proxy) for c in u.clients.values())
        for unit in (web, proxy):
            hook(unit, 'update-status', lambda ctx: ctx.on.update_status(), [link])
        writes = sum(before_writes[u.name] != link.app_data(u) for u in (web, proxy))
        mutations = (
            sum(len(c.mutating()) for u in (web, proxy) for c in u.clients.values())
            - mutations_before
        )
        pebble_text = f'{mutations}' if box.pebble else 'not measured (simulated)'
        print(
            f'  relation writes: {writes}; Pebble mutating requests: {pebble_text} '
            f'(target: 0 and 0)'
        )

        title('6. An older requirer that only speaks v1 still works')
        old = box.unit(
            ProxyV1Only, proxy_dir, 'proxy-old/0', leader=True, config={'port': LEGACY_PROXY_PORT}
        )
        deploy([old])
        old_link = Link([web], 'k8s-service', [old], 'backend', relation_id=2)
        relate(
            old_link,
            has_data=lambda: any(
                c.component == 'backend' and c.ready for c in old.last_conditions
            ),
        )
        print(
            f'  relation 2: web-k8s publishes {payload_keys(old_link.app_data(web))}'
            f' (version {old_link.app_data(web).get("version")}); relation 1 keeps '
            f'{payload_keys(link.app_data(web))}'
        )
        show_request(box, LEGACY_PROXY_PORT, 'hello again')

        title('7. An incompatible pair is blocked, with the remedy (workloads simulated)')
        newer = box.unit(WebV2Only, web_dir, 'web-next/0', leader=True, real_containers=False)
        older = box.unit(
            ProxyV1Only, proxy_dir, 'proxy-older/0', leader=True, real_containers=False
        )
        bad_link = Link([newer], 'k8s-service', [older], 'backend', relation_id=3)
        relate(bad_link, has_data=lambda: False, max_rounds=3)
        print(f'  web-next/0:    {status_text(newer)}')
        print(f'  proxy-older/0: {status_text(older)}')
        if older.state.unit_status.name != 'blocked':
            raise SystemExit('demo failed: the incompatible requirer is not blocked')

        title('Done')
        print(
            '  every unit ran its hooks through ops; the request went through real processes'
            if box.pebble
            else '  every unit ran its hooks through ops (workloads simulated)'
        )
    return 0


def _with_config(unit: Unit, **options: Any) -> Any:
    import dataclasses

    return dataclasses.replace(unit.state, config={**unit.state.config, **options})


if __name__ == '__main__':
    sys.exit(main())
