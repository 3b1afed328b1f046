"""Benchmark of kubernetes_components against a real kube-apiserver (envtest style).

Prints, for 10 / 100 / 500 ConfigMaps: API calls (by method) and wall time of one whole hook
(config-changed through ops.testing, the reconciler and the component) for the first apply, a
steady-state hook, a hook where 10% of the objects changed, and one where 10% were dropped.
Then the import cost of the lib without lightkube, as a ratio over `import ops`.

Run: PYTHONPATH=lib python benchmarks/bench_kubernetes.py  (binaries: scripts/build-envtest.sh)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'lib'))
sys.path.insert(0, str(ROOT))

import ops  # noqa: E402
from charms.reconcile_libs.v0.kubernetes_components import (  # noqa: E402
    KubernetesResources,
    Manifest,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler  # noqa: E402
from lightkube import Client  # noqa: E402
from lightkube.resources.core_v1 import Namespace  # noqa: E402
from lightkube.types import PatchType  # noqa: E402
from ops import testing  # noqa: E402

from tests.functional.kubernetes.k8s_envtest import (  # noqa: E402
    EnvTest,
    RecordingTransport,
    make_client,
    missing_binaries_reason,
    start_envtest,
)

SIZES = (10, 100, 500)
IMPORT_RUNS = 9


def configmaps(count: int, changed: int = 0, version: str = 'v1') -> list[Manifest]:
    return [
        {
            'apiVersion': 'v1',
            'kind': 'ConfigMap',
            'metadata': {'name': f'cm-{i:04d}'},
            'data': {'value': f'{version}-changed' if i < changed else version},
        }
        for i in range(count)
    ]


def run_hook(client: Client, objects: Sequence[Manifest], namespace: str) -> str:
    desired = list(objects)

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            self.reconciler.add(KubernetesResources('bench', desired, client=client))

    ctx = testing.Context(Charm, meta={'name': 'bench'})
    state = testing.State(leader=True, model=testing.Model(name=namespace))
    return str(ctx.run(ctx.on.config_changed(), state).unit_status)


def measure(
    client: Client, transport: RecordingTransport, objects: Sequence[Manifest], namespace: str
) -> tuple[float, Counter[str], str]:
    transport.calls.clear()
    start = time.perf_counter()
    status = run_hook(client, objects, namespace)
    elapsed = time.perf_counter() - start
    return elapsed, Counter(method for method, _ in transport.calls), status


def format_calls(calls: Counter[str]) -> str:
    parts = [f'{method} {calls[method]}' for method in ('GET', 'PATCH', 'DELETE') if calls[method]]
    return f'{sum(calls.values()):4d} ({", ".join(parts)})'


def bench_reconcile(env: EnvTest) -> None:
    admin, _ = make_client(env, field_manager='bench-admin')
    print('Reconcile of N ConfigMaps: one whole hook (ops.testing + reconciler + component)')
    header = f'{"N":>4} {"phase":<14} {"wall ms":>9} {"ms/object":>9}  API calls'
    print(header)
    print('-' * len(header))
    for size in SIZES:
        namespace = f'bench-{size}'
        admin.patch(
            Namespace,
            namespace,
            {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': namespace}},
            patch_type=PatchType.APPLY,
        )
        client, transport = make_client(env, user='bench-charm', namespace=namespace)
        tenth = max(1, size // 10)
        phases: list[tuple[str, list[Manifest]]] = [
            ('first apply', configmaps(size)),
            ('steady state', configmaps(size)),
            ('10% changed', configmaps(size, changed=tenth)),
            ('10% dropped', configmaps(size - tenth, changed=tenth)),
        ]
        for phase, objects in phases:
            elapsed, calls, status = measure(client, transport, objects, namespace)
            per_object = elapsed * 1000 / len(objects)
            print(
                f'{size:>4} {phase:<14} {elapsed * 1000:9.1f} {per_object:9.2f}  '
                f'{format_calls(calls)}  [{status}]'
            )
        # Steady state again, several times, for a stable figure.
        samples = [measure(client, transport, phases[-1][1], namespace)[0] for _ in range(3)]
        print(f'{size:>4} {"steady x3 med":<14} {statistics.median(samples) * 1000:9.1f}')
        client.close()
    admin.close()


IMPORT_PROBE = """
import sys, time
t0 = time.perf_counter()
import ops
t1 = time.perf_counter()
import charms.reconcile_libs.v0.kubernetes_components
t2 = time.perf_counter()
lightkube_loaded = 'lightkube' in sys.modules
import lightkube, lightkube.resources.core_v1
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, lightkube_loaded)
"""


def bench_import() -> None:
    """Import times measured inside fresh interpreters; the minimum of IMPORT_RUNS each."""
    env = {'PYTHONPATH': str(ROOT / 'lib')}
    ops_times: list[float] = []
    lib_times: list[float] = []
    lightkube_times: list[float] = []
    loaded = set()
    for _ in range(IMPORT_RUNS):
        result = subprocess.run(
            [sys.executable, '-c', IMPORT_PROBE],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ops_s, lib_s, lightkube_s, lightkube_loaded = result.stdout.split()
        ops_times.append(float(ops_s))
        lib_times.append(float(lib_s))
        lightkube_times.append(float(lightkube_s))
        loaded.add(lightkube_loaded)
    ops_ms, lib_ms, lk_ms = (min(t) * 1000 for t in (ops_times, lib_times, lightkube_times))
    print(f'\nImport cost (fresh interpreters, minimum of {IMPORT_RUNS}):')
    print(f'  import ops                                 {ops_ms:7.1f} ms')
    print(
        f'  + import kubernetes_components             {lib_ms:7.1f} ms '
        f'(+{lib_ms / ops_ms * 100:.1f}% over ops; '
        f'lightkube imported: {", ".join(sorted(loaded))})'
    )
    print(
        f'  + import lightkube (what a hook that runs  {lk_ms:7.1f} ms '
        f'(+{lk_ms / ops_ms * 100:.1f}% over ops)\n    the component pays on top)'
    )


def main() -> None:
    reason = missing_binaries_reason()
    if reason:
        print(f'kube-apiserver benchmark skipped: {reason}')
    else:
        start = time.perf_counter()
        env = start_envtest()
        print(f'envtest ({env.apiserver_version}) ready in {time.perf_counter() - start:.1f} s\n')
        try:
            bench_reconcile(env)
        finally:
            env.stop()
    bench_import()


if __name__ == '__main__':
    main()
