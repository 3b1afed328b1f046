"""Whole-hook wall time of the example charm, as a separate process, against a bare ops charm.

Three charms do the same Pebble work (web-k8s's page, service, check and open port), each hook
run as its own `python` process through `ops.main` against its own real Pebble daemon:

- bare: charm_variants/bare_web.py, ops only (the baseline);
- reconcile-libs: charms/web-k8s/src/charm.py, the example charm itself;
- chisme: charm_variants/chisme_web.py, charmed-kubeflow-chisme 0.4.31's components (only when
  chisme is installed, as in `tox -e bench`).

Each is measured on update-status and config-changed without relations, and (bare and ours) on
update-status with one `k8s-service` relation to a requirer that speaks versions 1 and 2: then
the charm also validates and publishes its Service, compare-before-write.

Hook tools are shell stubs on PATH (they answer config-get, is-leader, opened-ports, ... and
count their calls). Figures: median wall time of the hook processes, ratio over bare
(target: reconcile-libs at most 1.2x), and hook-tool calls per hook.
"""

from __future__ import annotations

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

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'lib'), str(ROOT)]

from tests.functional.pebble.pebble_daemon import PebbleDaemon  # noqa: E402

WEB_DIR = ROOT / 'charms' / 'web-k8s'
RUNS = 15
HOOK_TOOLS = {
    'juju-log': '',
    'status-set': '',
    'application-version-set': '',
    'open-port': '',
    'close-port': '',
    'is-leader': 'echo true',
    'config-get': 'cat "$BENCH_DIR/config.json"',
    'opened-ports': 'cat "$BENCH_DIR/ports.json"',
    # One `k8s-service` relation to a requirer app `proxy` when $BENCH_DIR/related exists.
    'relation-ids': 'if [ -e "$BENCH_DIR/related" ]; then echo \'["k8s-service:1"]\'; '
    'else echo "[]"; fi',
    'relation-list': 'case "$*" in *--app*) echo \'"proxy"\';; *) echo \'["proxy/0"]\';; esac',
    'relation-get': 'case "$*" in *web-k8s*) cat "$BENCH_DIR/own.json";; '
    '*proxy*) cat "$BENCH_DIR/remote.json";; *) echo "{}";; esac',
    'relation-set': 'exec python3 "$BENCH_DIR/relation_set.py"',
    'status-get': 'echo \'{"message": "", "status": "unknown", "status-data": {}}\'',
    'goal-state': 'echo \'{"units": {}, "relations": {}}\'',
}
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


def _stub_tools(directory: Path) -> Path:
    bin_dir = directory / 'bin'
    bin_dir.mkdir()
    (directory / 'relation_set.py').write_text(RELATION_SET)
    (directory / 'own.json').write_text('{}')
    (directory / 'remote.json').write_text(json.dumps({'versions': '[1,2]', 'version': '2'}))
    for tool, body in HOOK_TOOLS.items():
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho {tool} >> "$BENCH_DIR/calls"\n{body}\n')
        script.chmod(0o755)
    return bin_dir


def _charm_dir(directory: Path) -> Path:
    """A packed-charm-like directory: metadata.yaml, config.yaml, actions.yaml (as charmcraft
    writes them from charmcraft.yaml)."""
    meta = yaml.safe_load((WEB_DIR / 'charmcraft.yaml').read_text())
    charm_dir = directory / 'charm'
    charm_dir.mkdir()
    metadata = {
        key: meta[key]
        for key in (
            'name',
            'summary',
            'description',
            'containers',
            'resources',
            'provides',
            'assumes',
        )
        if key in meta
    }
    (charm_dir / 'metadata.yaml').write_text(yaml.safe_dump(metadata))
    (charm_dir / 'config.yaml').write_text(yaml.safe_dump(meta['config']))
    (charm_dir / 'actions.yaml').write_text(yaml.safe_dump(meta.get('actions', {})))
    return charm_dir


def _run_hook(variant: dict[str, str], bench_dir: Path, hook: str) -> float:
    env = {
        **os.environ,
        'PATH': f'{bench_dir / "bin"}:{os.environ["PATH"]}',
        'PYTHONPATH': os.pathsep.join([str(WEB_DIR / 'lib'), str(WEB_DIR / 'src')]),
        'BENCH_DIR': str(bench_dir),
        'JUJU_CHARM_DIR': str(bench_dir / 'charm'),
        'JUJU_DISPATCH_PATH': f'hooks/{hook}',
        'JUJU_UNIT_NAME': 'web-k8s/0',
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
        variant['module'],
        variant['class'],
        variant['sockets'],
    ]
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=bench_dir)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f'{variant["label"]} {hook} failed:\n{result.stderr[-2000:]}')
    return elapsed


def _variants() -> list[dict[str, str]]:
    variants = [
        {
            'label': 'bare ops',
            'module': str(ROOT / 'benchmarks/charm_variants/bare_web.py'),
            'class': 'BareWebCharm',
        },
        {
            'label': 'reconcile-libs',
            'module': str(WEB_DIR / 'src' / 'charm.py'),
            'class': 'WebCharm',
        },
    ]
    if importlib.util.find_spec('charmed_kubeflow_chisme') is not None:
        variants.append(
            {
                'label': 'chisme 0.4.31',
                'module': str(ROOT / 'benchmarks/charm_variants/chisme_web.py'),
                'class': 'ChismeWebCharm',
            }
        )
    return variants


def main() -> None:
    from scripts.sandbox import find_pebble

    print(
        '\n== example charm: whole-hook wall time, one process per hook (median of '
        f'{RUNS}; real Pebble; stub hook tools)'
    )
    found = find_pebble()
    if found is None:
        print('  skipped: no pebble binary (scripts/build-pebble.sh)')
        return
    binary, version = found
    work = Path(tempfile.mkdtemp(prefix='bench-charms-'))
    daemons: list[PebbleDaemon] = []
    try:
        rows = []
        for index, variant in enumerate(_variants()):
            bench_dir = work / f'variant{index}'
            bench_dir.mkdir()
            _stub_tools(bench_dir)
            _charm_dir(bench_dir)
            (bench_dir / 'config.json').write_text(
                json.dumps({'port': 18180 + index, 'greeting': 'hello'})
            )
            (bench_dir / 'ports.json').write_text('[]')
            daemon = PebbleDaemon.start(binary, version, bench_dir / 'pebble')
            daemons.append(daemon)
            variant['sockets'] = json.dumps({'web': daemon.socket_path})
            for hook in ('install', 'web-pebble-ready', 'config-changed'):  # converge first
                _run_hook(variant, bench_dir, hook)
            (bench_dir / 'ports.json').write_text(json.dumps([f'{18180 + index}/tcp']))
            timings: dict[str, list[float]] = {'update-status': [], 'config-changed': []}
            calls_file = bench_dir / 'calls'
            calls_file.write_text('')
            for _ in range(RUNS):
                for hook, samples in timings.items():
                    samples.append(_run_hook(variant, bench_dir, hook))
            calls = len(calls_file.read_text().split()) / (RUNS * len(timings))
            medians = {h: statistics.median(s) for h, s in timings.items()}
            writes = None
            if variant['label'] != 'chisme 0.4.31':  # chisme has no k8s-service provider
                (bench_dir / 'related').touch()
                for _ in range(3):  # negotiate and publish
                    _run_hook(variant, bench_dir, 'update-status')
                calls_file.write_text('')
                related = [_run_hook(variant, bench_dir, 'update-status') for _ in range(RUNS)]
                medians['related'] = statistics.median(related)
                writes = calls_file.read_text().split().count('relation-set')
            rows.append((variant['label'], medians, calls, writes))
        base = rows[0][1]
        print(
            f'  {"charm":16} {"update-status":>14} {"ratio":>6} {"config-changed":>15} '
            f'{"ratio":>6} {"related u-s":>12} {"ratio":>6} {"tools/hook":>10} '
            f'{"rel. writes":>11}'
        )
        for label, medians, calls, writes in rows:
            cells = []
            for hook in ('update-status', 'config-changed', 'related'):
                if hook in medians:
                    cells.append(
                        f'{medians[hook] * 1000:10.1f}ms {medians[hook] / base[hook]:5.2f}x'
                    )
                else:
                    cells.append(f'{"-":>12} {"-":>6}')
            verdict = ''
            if label == 'reconcile-libs':
                worst = max(medians[h] / base[h] for h in medians)
                verdict = f'  target <= 1.2x {"PASS" if worst <= 1.2 else "MISS"}'
            writes_text = '-' if writes is None else str(writes)
            print(
                f'  {label:16} {cells[0]:>21} {cells[1]:>22} {cells[2]:>19} {calls:10.1f} '
                f'{writes_text:>11}{verdict}'
            )
        print(
            f'  ("related u-s": update-status with one k8s-service relation; relation writes '
            f'over its {RUNS} runs, target 0)'
        )
        if len(rows) < 3:
            print('  (charmed-kubeflow-chisme is not installed here: run through `tox -e bench`)')
    finally:
        for daemon in daemons:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
