"""Whole-hook wall time of each example charm, as separate processes, against a bare ops charm.

For each example charm, charms that do the same Pebble work run each hook as their own `python`
process through `ops.main` (benchmarks/dispatch_hook.py), each against its own real Pebble
daemon, with shell stubs on PATH for the hook tools (they answer config-get, is-leader,
relation-get, ... and count their calls):

- web-k8s (the leader): bare (charm_variants/bare_web.py, ops only: the baseline), the example
  charm itself, and the same work on charmed-kubeflow-chisme 0.4.31 (charm_variants/chisme_web.py;
  only where chisme is installed, as in `tox -e bench`). Measured on update-status and
  config-changed without relations, and (bare and ours) on update-status with one `k8s-service`
  relation to a requirer speaking versions 1 and 2, where the charm also publishes its Service.
- proxy-k8s (a non-leader: its one leader-only component manages a Kubernetes object, which no
  bare charm here does): bare (charm_variants/bare_proxy.py) and the example charm, related to a
  provider that publishes v1 and v2. Measured on update-status and config-changed.

Figures: median wall time, ratio over bare (target: the example charm at most 1.2x), hook-tool
calls per hook, and relation writes in the measured (steady-state) hooks (target 0).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'lib'), str(ROOT)]

from tests.functional.pebble.pebble_daemon import PebbleDaemon  # noqa: E402

RUNS = 15
VARIANTS_DIR = ROOT / 'benchmarks' / 'charm_variants'
RELATION_SET = """import json, os, sys, yaml
path = os.path.join(os.environ['BENCH_DIR'], 'own.json')
bag = json.load(open(path))
for key, value in (yaml.safe_load(sys.stdin) or {}).items():
    if value == '':
        bag.pop(key, None)
    else:
        bag[key] = value
json.dump(bag, open(path, 'w'))
"""
PROVIDER_BAG = {
    'versions': '[1,2]',
    'version': '2',
    'v1': '{"name":"web-k8s","namespace":"bench","port":8080}',
    'v2': '{"name":"web-k8s","namespace":"bench","ports":[{"app_protocol":"http",'
    '"name":"http","port":8080,"protocol":"TCP"}]}',
}


@dataclasses.dataclass
class Subject:
    """One example charm and the unit and relation it is measured in."""

    charm: str
    container: str
    endpoint: str
    remote_app: str
    remote_bag: dict[str, str]
    leader: bool
    port_option: int
    config: dict[str, Any]

    @property
    def charm_dir(self) -> Path:
        return ROOT / 'charms' / self.charm


@dataclasses.dataclass
class Variant:
    label: str
    module: Path
    charm_class: str
    sockets: str = ''


def _stub_tools(bench_dir: Path, subject: Subject) -> None:
    tools = {
        'juju-log': '',
        'status-set': '',
        'application-version-set': '',
        'open-port': '',
        'close-port': '',
        'is-leader': f'echo {"true" if subject.leader else "false"}',
        'config-get': 'cat "$BENCH_DIR/config.json"',
        'opened-ports': 'cat "$BENCH_DIR/ports.json"',
        'relation-ids': f'if [ -e "$BENCH_DIR/related" ]; then echo \'["{subject.endpoint}:1"]\'; '
        'else echo "[]"; fi',
        'relation-list': f'case "$*" in *--app*) echo \'"{subject.remote_app}"\';; '
        f'*) echo \'["{subject.remote_app}/0"]\';; esac',
        'relation-get': f'case "$*" in *{subject.charm}*) cat "$BENCH_DIR/own.json";; '
        f'*{subject.remote_app}*) cat "$BENCH_DIR/remote.json";; *) echo "{{}}";; esac',
        'relation-set': 'exec python3 "$BENCH_DIR/relation_set.py"',
        'status-get': 'echo \'{"message": "", "status": "unknown", "status-data": {}}\'',
        'goal-state': 'echo \'{"units": {}, "relations": {}}\'',
    }
    bin_dir = bench_dir / 'bin'
    bin_dir.mkdir()
    for tool, body in tools.items():
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho {tool} >> "$BENCH_DIR/calls"\n{body}\n')
        script.chmod(0o755)
    (bench_dir / 'relation_set.py').write_text(RELATION_SET)
    (bench_dir / 'own.json').write_text('{}')
    (bench_dir / 'remote.json').write_text(json.dumps(subject.remote_bag))
    (bench_dir / 'config.json').write_text(json.dumps(subject.config))
    (bench_dir / 'ports.json').write_text('[]')


def _charm_dir(bench_dir: Path, subject: Subject) -> None:
    """A packed-charm-like directory: metadata.yaml, config.yaml, actions.yaml (as charmcraft
    writes them from charmcraft.yaml), and the charm's src/ (for files it reads at run time)."""
    meta = yaml.safe_load((subject.charm_dir / 'charmcraft.yaml').read_text())
    charm_dir = bench_dir / 'charm'
    charm_dir.mkdir()
    keys = ('name', 'summary', 'description', 'containers', 'resources', 'provides', 'requires')
    metadata = {key: meta[key] for key in keys if key in meta}
    (charm_dir / 'metadata.yaml').write_text(yaml.safe_dump(metadata))
    (charm_dir / 'config.yaml').write_text(yaml.safe_dump(meta['config']))
    (charm_dir / 'actions.yaml').write_text(yaml.safe_dump(meta.get('actions', {})))
    shutil.copytree(subject.charm_dir / 'src', charm_dir / 'src')


def _run_hook(variant: Variant, subject: Subject, bench_dir: Path, hook: str) -> float:
    env = {
        **os.environ,
        'PATH': f'{bench_dir / "bin"}:{os.environ["PATH"]}',
        'PYTHONPATH': os.pathsep.join(
            [str(subject.charm_dir / 'lib'), str(subject.charm_dir / 'src')]
        ),
        'BENCH_DIR': str(bench_dir),
        'JUJU_CHARM_DIR': str(bench_dir / 'charm'),
        'JUJU_DISPATCH_PATH': f'hooks/{hook}',
        'JUJU_UNIT_NAME': f'{subject.charm}/0',
        'JUJU_MODEL_NAME': 'bench',
        'JUJU_MODEL_UUID': '00000000-0000-4000-8000-000000000000',
        'JUJU_VERSION': '3.6.14',
        'JUJU_HOOK_NAME': hook,
    }
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    if hook.endswith('-pebble-ready'):
        env['JUJU_WORKLOAD_NAME'] = hook.removesuffix('-pebble-ready')
    argv = [
        sys.executable,
        str(ROOT / 'benchmarks' / 'dispatch_hook.py'),
        str(variant.module),
        variant.charm_class,
        variant.sockets,
    ]
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=bench_dir)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f'{variant.label} {hook} failed:\n{result.stderr[-2000:]}')
    return elapsed


def _measure(
    variant: Variant, subject: Subject, bench_dir: Path, hooks: dict[str, bool]
) -> tuple[dict[str, float], float, int]:
    """Converge, then time each hook (name -> related?) RUNS times, interleaved."""
    calls_file = bench_dir / 'calls'
    for hook in ('install', f'{subject.container}-pebble-ready', 'config-changed'):
        _run_hook(variant, subject, bench_dir, hook)
    ports = f'[{json.dumps(str(subject.config["port"]) + "/tcp")}]'
    (bench_dir / 'ports.json').write_text(ports)
    samples: dict[str, list[float]] = {label: [] for label in hooks}
    writes = 0
    tool_calls = 0
    for related in sorted(set(hooks.values())):
        if related:
            (bench_dir / 'related').touch()
        else:
            (bench_dir / 'related').unlink(missing_ok=True)
        for _ in range(3):  # converge: negotiate, publish, push, replan
            _run_hook(variant, subject, bench_dir, 'update-status')
        calls_file.write_text('')
        for _ in range(RUNS):
            for label, hook_related in hooks.items():
                if hook_related == related:
                    hook = label.split(' ')[0]
                    samples[label].append(_run_hook(variant, subject, bench_dir, hook))
        calls = calls_file.read_text().split()
        writes += calls.count('relation-set')
        tool_calls += len(calls)
    calls = tool_calls / (RUNS * len(hooks))
    return {label: statistics.median(s) for label, s in samples.items()}, calls, writes


def _section(
    title: str,
    subject: Subject,
    variants: list[Variant],
    hooks: dict[str, bool],
    binary: Path,
    version: str,
) -> None:
    print(f'\n  {title}')
    work = Path(tempfile.mkdtemp(prefix='bench-charms-'))
    daemons: list[PebbleDaemon] = []
    rows: list[tuple[str, dict[str, float], float, int]] = []
    try:
        for index, variant in enumerate(variants):
            bench_dir = work / f'variant{index}'
            bench_dir.mkdir()
            subject.config['port'] = subject.port_option + index
            _stub_tools(bench_dir, subject)
            _charm_dir(bench_dir, subject)
            daemon = PebbleDaemon.start(binary, version, bench_dir / 'pebble')
            daemons.append(daemon)
            variant.sockets = json.dumps({subject.container: daemon.socket_path})
            its_hooks = {h: r for h, r in hooks.items() if not (r and 'chisme' in variant.label)}
            rows.append((variant.label, *_measure(variant, subject, bench_dir, its_hooks)))
    finally:
        for daemon in daemons:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0][1]
    header = ''.join(f'{label:>22} {"ratio":>6}' for label in hooks)
    print(f'  {"charm":16}{header} {"tools/hook":>11} {"rel. writes":>12}')
    for label, medians, calls, writes in rows:
        cells = ''.join(
            f'{medians[h] * 1000:14.1f}ms {medians[h] / base[h]:5.2f}x'
            if h in medians
            else f'{"-":>16} {"-":>6}'
            for h in hooks
        )
        verdict = ''
        if label == 'reconcile-libs':
            worst = max(medians[h] / base[h] for h in medians)
            verdict = f'  target <= 1.2x {"PASS" if worst <= 1.2 else "MISS"} (worst {worst:.2f}x)'
        print(f'  {label:16}{cells} {calls:11.1f} {writes:12d}{verdict}')


def main() -> None:
    from scripts.sandbox import find_pebble

    print(
        f'\n== example charms: whole-hook wall time, one process per hook (median of {RUNS}; '
        'real Pebble; stub hook tools)'
    )
    found = find_pebble()
    if found is None:
        print('  skipped: no pebble binary (scripts/build-pebble.sh)')
        return
    binary, version = found
    web = Subject(
        'web-k8s',
        'web',
        'k8s-service',
        'proxy',
        {'versions': '[1,2]', 'version': '2'},
        True,
        18180,
        {'greeting': 'hello'},
    )
    web_variants = [
        Variant('bare ops', VARIANTS_DIR / 'bare_web.py', 'BareWebCharm'),
        Variant('reconcile-libs', web.charm_dir / 'src' / 'charm.py', 'WebCharm'),
    ]
    if importlib.util.find_spec('charmed_kubeflow_chisme') is not None:
        web_variants.append(
            Variant('chisme 0.4.31', VARIANTS_DIR / 'chisme_web.py', 'ChismeWebCharm')
        )
    _section(
        'web-k8s (leader); "related" = one k8s-service relation',
        web,
        web_variants,
        {'update-status': False, 'config-changed': False, 'update-status related': True},
        binary,
        version,
    )
    if len(web_variants) < 3:
        print('  (charmed-kubeflow-chisme is not installed here: run through `tox -e bench`)')
    proxy = Subject('proxy-k8s', 'proxy', 'backend', 'web-k8s', PROVIDER_BAG, False, 18280, {})
    proxy_variants = [
        Variant('bare ops', VARIANTS_DIR / 'bare_proxy.py', 'BareProxyCharm'),
        Variant('reconcile-libs', proxy.charm_dir / 'src' / 'charm.py', 'ProxyCharm'),
    ]
    _section(
        'proxy-k8s (non-leader), related to a provider publishing v1 and v2',
        proxy,
        proxy_variants,
        {'update-status related': True, 'config-changed related': True},
        binary,
        version,
    )


if __name__ == '__main__':
    main()
