#!/usr/bin/env python3
"""Benchmark of the k8s-service lib: hook rounds, steady-state writes, import cost.

- Hook rounds to first data and to quiescence, in synchronous rounds (every pending unit runs
  one hook per round on the same snapshot), for a fresh relation, one side refreshed, and a
  rollback: measured on the pure protocol core (the interleaving checker's model) and, for the
  fresh relation, through the ops layer with two units a side (ops.testing). SDI's figures
  from design.md §9 (3 rounds to data, 4 to quiet) are printed alongside.
- Relation writes (`RelationDataContent._commit` calls) in steady-state hooks: target 0.
- Import cost of the lib over `import ops` (`python -X importtime`, cumulative time of the lib
  imported after ops, as a share of ops' own), and whether pydantic is imported at load.

Run: PYTHONPATH=lib python benchmarks/bench_k8s_service.py [--runs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'lib'))

SDI_ROUNDS = (3, 4)  # design.md §9 targets table: SDI has data after 3 rounds, quiet after 4


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bench_rounds() -> None:
    checker: Any = _load(
        'check_k8s_service_protocol', ROOT / 'scripts' / 'check_k8s_service_protocol.py'
    )
    print('hook rounds (synchronous; "data 0" = requirer units never lost data)')
    print(f'  {"scenario":34} {"data":>5} {"quiet":>6}   SDI data/quiet')
    for scenario in checker.ROUND_SCENARIOS:
        rounds = checker.rounds_for(scenario)
        sdi = f'{SDI_ROUNDS[0]}/{SDI_ROUNDS[1]}' if not scenario.script else '-'
        print(f'  {scenario.name:34} {rounds.data!s:>5} {rounds.quiet:>6}   {sdi}')


def bench_ops() -> None:
    import ops

    sim_module: Any = _load(
        'k8s_service_ops_sim', ROOT / 'tests' / 'unit' / 'test_k8s_service_ops.py'
    )
    calls: list[int] = []
    real = ops.model.RelationDataContent._commit

    def counting(self: Any, data: Any) -> None:
        calls.append(len(data))
        real(self, data)

    ops.model.RelationDataContent._commit = counting
    try:
        sim = sim_module.Sim([sim_module.V12] * 2, [sim_module.V12] * 2)
        rounds, data_round = 0, None
        while sim.pending:
            rounds += 1
            sim.round()
            have = all(sim.service_seen(u.name) for u in sim.requirer_units())
            has_event = all(u.events for u in sim.requirer_units())
            if data_round is None and have and has_event:
                data_round = rounds
        print(
            f'through ops.testing, 2+2 units, fresh relation: data after {data_round} rounds, '
            f'quiet after {rounds} (SDI {SDI_ROUNDS[0]}/{SDI_ROUNDS[1]}); '
            f'{len(calls)} relation writes while negotiating'
        )
        for kind in ('relation_changed', 'config_changed', 'upgrade_charm', 'leader_elected'):
            calls.clear()
            began = time.perf_counter()
            for name in sorted(sim.units):
                sim.run(name, kind)
            elapsed = (time.perf_counter() - began) / len(sim.units) * 1000
            print(
                f'steady-state {kind:17} hook on all 4 units: {len(calls)} relation writes '
                f'(target 0), {elapsed:.1f} ms/hook under ops.testing'
            )
    finally:
        ops.model.RelationDataContent._commit = real


def _import_times(lib: str) -> tuple[float, float]:
    """Cumulative import time (ms) of `ops`, then of `lib` imported after it (`-X importtime`)."""
    result = subprocess.run(
        [sys.executable, '-X', 'importtime', '-c', f'import ops; import {lib}'],
        check=True,
        capture_output=True,
        text=True,
        env={'PYTHONPATH': str(ROOT / 'lib')},
    )
    cumulative: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if line.startswith('import time:') and '|' in line:
            _, total, name = (part.strip() for part in line.split('|'))
            if total.isdigit():
                cumulative[name] = int(total) / 1000
    return cumulative['ops'], cumulative[lib]


def bench_import(runs: int) -> None:
    ratios: list[float] = []
    rec_ratios: list[float] = []
    ops_ms: list[float] = []
    for _ in range(runs):
        base, lib = _import_times('charms.reconcile_libs.v0.k8s_service')
        base2, rec = _import_times('charms.reconcile_libs.v0.reconciler')
        ops_ms.append(base)
        ratios.append(lib / base)
        rec_ratios.append(rec / base2)
    check = subprocess.run(
        [
            sys.executable,
            '-c',
            'import sys, charms.reconcile_libs.v0.k8s_service; '
            'print(sorted(m for m in ("pydantic", "lightkube") if m in sys.modules))',
        ],
        check=True,
        capture_output=True,
        text=True,
        env={'PYTHONPATH': str(ROOT / 'lib')},
    )
    print(
        f'import cost over `import ops` (-X importtime, {runs} runs; ops itself median '
        f'{statistics.median(ops_ms):.0f} ms): k8s_service incl. the reconciler lib it imports '
        f'+{statistics.median(ratios) * 100:.1f}% median (min +{min(ratios) * 100:.1f}%); the '
        f'reconciler alone +{statistics.median(rec_ratios) * 100:.1f}%; heavy modules loaded '
        f'at import: {check.stdout.strip()}'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description='k8s-service lib benchmark')
    parser.add_argument('--runs', type=int, default=15, help='interpreter starts per import case')
    args, _ = parser.parse_known_args()  # scripts/benchmark.py calls main() with its own argv
    bench_rounds()
    bench_ops()
    bench_import(args.runs)


if __name__ == '__main__':
    main()
