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
sys.path.insert(0, str(ROOT / 'tests' / 'functional' / 'kubernetes'))

import ops  # noqa: E402
from k8s_envtest import (  # noqa: E402
    EnvTest,
    RecordingTransport,
    make_client,
    missing_binaries_reason,
    start_envtest,
)
from lightkube import Client  # noqa: E402
from lightkube.resources.core_v1 import Namespace  # noqa: E402
from lightkube.types import PatchType  # noqa: E402
from ops import testing  # noqa: E402

from charms.reconcile_libs.v0.kubernetes_components import (  # noqa: E402
    KubernetesResources,
    Manifest,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler  # noqa: E402

SIZES = (10, 100, 500)
IMPORT_RUNS = 7


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


def _time_import(statement: str) -> float:
    code = f'import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)'
    env = {'PYTHONPATH': str(ROOT / 'lib')}
    samples = []
    for _ in range(IMPORT_RUNS):
        result = subprocess.run(
            [sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True
        )
        samples.append(float(result.stdout.strip()))
    return statistics.median(samples)


def bench_import() -> None:
    lib = 'charms.reconcile_libs.v0.kubernetes_components'
    ops_only = _time_import('import ops')
    with_lib = _time_import(f'import ops; import {lib}')
    lightkube_too = _time_import(f'import ops; import {lib}; import lightkube')
    check = subprocess.run(
        [sys.executable, '-c', f'import sys, {lib}; print("lightkube" in sys.modules)'],
        env={'PYTHONPATH': str(ROOT / 'lib')},
        capture_output=True,
        text=True,
        check=True,
    )
    print(f'\nImport cost (median of {IMPORT_RUNS} fresh interpreters, in-process timer):')
    print(f'  import ops                         {ops_only * 1000:7.1f} ms')
    print(
        f'  import ops + kubernetes_components {with_lib * 1000:7.1f} ms '
        f'({(with_lib / ops_only - 1) * 100:+.1f}% over ops; '
        f'lightkube imported: {check.stdout.strip()})'
    )
    print(
        f'  ... + import lightkube (for scale)  {lightkube_too * 1000:7.1f} ms '
        f'({(lightkube_too / ops_only - 1) * 100:+.1f}% over ops)'
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
