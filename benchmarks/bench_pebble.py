"""Benchmark: what a steady-state PebbleWorkload reconcile asks of a real Pebble, and import cost.

Run: PYTHONPATH=lib python benchmarks/bench_pebble.py  (scripts/benchmark.py calls `main()`).

1. Pebble API calls: against each real Pebble built by scripts/build-pebble.sh, converge a
   workload (3 services, 2 files, 2 checks, 1 exec step), then run steady-state reconciles and
   record every HTTP request the real `ops.pebble.Client` sends. Target: no mutating request
   (no push, add_layer, replan, restart, signal, exec); the read requests are listed.
2. Import cost of the lib over `import ops`: fresh interpreters, median of N, ratio.
"""

from __future__ import annotations

import collections
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'lib'))
sys.path.insert(0, str(ROOT / 'tests' / 'functional' / 'pebble'))

STEADY_RUNS = 5
IMPORT_RUNS = 15


def main() -> None:
    print('== pebble_components ==')
    _bench_api_calls()
    _bench_import_cost()


def _bench_api_calls() -> None:
    from charms.reconcile_libs.v0.pebble_components import (
        CheckSpec,
        ContainerFile,
        ExecStep,
        PebbleWorkload,
        ServiceSpec,
        WorkloadSpec,
    )
    from charms.reconcile_libs.v0.reconciler import StatusError

    # tests/functional/pebble/pebble_daemon.py: the same real-daemon harness the tests use.
    from pebble_daemon import (  # pyright: ignore[reportMissingImports]
        VERSIONS,
        DictState,
        PebbleDaemon,
        make_context,
        pebble_binary,
    )

    for version in VERSIONS:
        binary = pebble_binary(version)
        if not binary.is_file():
            print(f'Pebble {version}: not built ({binary}); run scripts/build-pebble.sh')
            continue
        with tempfile.TemporaryDirectory(prefix='bench-pebble-') as tmp:
            work = Path(tmp)
            daemon = PebbleDaemon.start(binary, version, work / 'pebble')
            try:
                container, client = daemon.container()
                sleeper = f'{sys.executable} -c "import time; time.sleep(100000)"'
                spec = WorkloadSpec(
                    services=[
                        ServiceSpec('api', f'{sleeper} api', files=[str(work / 'api.toml')]),
                        ServiceSpec('worker', f'{sleeper} worker', environment={'N': '4'}),
                        ServiceSpec('proxy', f'{sleeper} proxy', files=[str(work / 'p.conf')]),
                    ],
                    files=[
                        ContainerFile(str(work / 'api.toml'), content='port = 8080\n' * 50),
                        ContainerFile.from_template(
                            str(work / 'p.conf'),
                            'upstream $host:$port;\n',
                            {'host': 'a', 'port': 1},
                        ),
                    ],
                    checks=[
                        CheckSpec.exec('api-ready', 'true', period='1s'),
                        CheckSpec.tcp('proxy-alive', 1, level='alive', period='1h'),
                    ],
                    steps=[ExecStep('migrate', ['true'], inputs={'schema': 3})],
                )
                component = PebbleWorkload('bench', container='workload', spec=spec)
                ctx = make_context(container, DictState())
                started = time.perf_counter()
                component.reconcile(ctx)
                converge_ms = (time.perf_counter() - started) * 1000
                first = len(client.requests)
                durations: list[float] = []
                per_run: list[list[tuple[str, str, str]]] = []
                for _ in range(STEADY_RUNS):
                    client.reset()
                    started = time.perf_counter()
                    component.reconcile(ctx)
                    with contextlib.suppress(StatusError):
                        component.status(ctx)
                    durations.append((time.perf_counter() - started) * 1000)
                    per_run.append(list(client.requests))
            finally:
                daemon.stop()
        mutating = sum(1 for run in per_run for method, _, _ in run if method != 'GET')
        reads = collections.Counter(
            f'{m} {p}{"?action=" + a if a else ""}' for m, p, a in per_run[-1]
        )
        print(
            f'Pebble {version}: converge {first} requests in {converge_ms:.0f} ms; '
            f'steady state ({STEADY_RUNS} reconciles): {mutating} mutating requests '
            f'(target 0) - {"OK" if mutating == 0 else "FAIL"}'
        )
        print(
            f'  per steady reconcile: {len(per_run[-1])} reads, '
            f'median {statistics.median(durations):.1f} ms: '
            + ', '.join(f'{name} x{count}' for name, count in sorted(reads.items()))
        )


_IMPORT_PROBE = (
    'import time; t0 = time.perf_counter(); import ops; t1 = time.perf_counter(); '
    'import charms.reconcile_libs.v0.pebble_components; t2 = time.perf_counter(); '
    'print(t1 - t0, t2 - t1)'
)


def _bench_import_cost() -> None:
    """Each run: a fresh interpreter times `import ops`, then the lib on top of it."""
    env = {**os.environ, 'PYTHONPATH': str(ROOT / 'lib')}
    ops_ms: list[float] = []
    lib_ms: list[float] = []
    for run in range(IMPORT_RUNS + 1):
        result = subprocess.run(
            [sys.executable, '-c', _IMPORT_PROBE], check=True, env=env, capture_output=True
        )
        if run == 0:
            continue  # the first run warms the bytecode caches
        ops_s, lib_s = (float(value) for value in result.stdout.split())
        ops_ms.append(ops_s * 1000)
        lib_ms.append(lib_s * 1000)
    base, extra = statistics.median(ops_ms), statistics.median(lib_ms)
    print(
        f'import cost (median of {IMPORT_RUNS} fresh interpreters): `import ops` {base:.1f} ms; '
        f'pebble_components (incl. reconciler) on top: +{extra:.1f} ms = '
        f'{(base + extra) / base:.3f}x (+{extra / base * 100:.1f}%; target for all libs <= +15%)'
    )


if __name__ == '__main__':
    main()
