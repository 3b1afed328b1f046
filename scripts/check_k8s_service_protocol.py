#!/usr/bin/env python3
"""Exhaustive interleaving checker for the k8s-service version negotiation.

It drives the REAL protocol core of `charms.reconcile_libs.v0.k8s_service` (`leader_step`,
`reader_step`, `provider_status`) through every interleaving of Juju hooks and external events
(refresh, rollback, leader change, unit join and leave, content change, relation re-creation),
explores the reachable states by depth-first search with state hashing, and checks:

safety, in every state
  - no step raises;
  - no unit decodes a wire version its code lacks;
  - no stale data: whatever a requirer unit decodes equals what the provider leader last
    published, at the version it was read;
  - Blocked (incompatible) appears only when the two current advertisements are disjoint,
    and never for invalid data (all data in the model is valid);
  - a unit's `changed` events never exceed the real changes it could have seen;
  - no gap: a requirer unit loses its data only when it cannot read any version both sides
    advertise (or the relation is re-created).

at quiescence (no pending hook, script done)
  - both `version` keys equal max(adv_P & adv_R), or both are absent and both leaders are
    Blocked;
  - every requirer unit holds the current content at the best version it can read.

The model: Juju replicates state, not messages; a hook reads a snapshot and commits atomically;
a commit that changes an app bag marks every remote unit pending (relation-changed, coalesced).

`sync_rounds()` replays a scenario in synchronous rounds (every pending unit runs once per round
on the same snapshot) and counts the rounds to first data and to quiescence.

Usage: check_k8s_service_protocol.py [--scope small|full|large]   (full: 2 units a side, the
default and what the unit test runs; large adds 3-unit scenarios)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'lib'))

from charms.reconcile_libs.v0 import k8s_service as ks

CONTENTS: tuple[ks.ServiceInfo, ...] = (
    ks.ServiceInfo('web', 'shop', (ks.ServicePort(8080),)),
    ks.ServiceInfo('web', 'shop', (ks.ServicePort(9000),)),
    ks.ServiceInfo('web', 'shop', (ks.ServicePort(8080, 'http'), ks.ServicePort(9090, 'metrics'))),
)
"""Contents 0 and 1 read the same at v1 and v2; content 2 does not (v1 carries one bare port).

With 0 and 1 a unit's `changed` budget is exactly one per real change. With 2 a real change may
be seen once per distinct projection: e.g. a requirer unit refreshed while the relation is still
negotiating reads the optimistic v2, then v1 once its own (older) leader has advertised, then v2
again when that leader is refreshed."""

Bag = tuple[tuple[str, str], ...]
Event = tuple[object, ...]


class ViolationError(AssertionError):
    """A safety or quiescence invariant does not hold."""


@dataclass(frozen=True)
class Unit:
    """One unit: its code set and, on the requirer, what it holds and how often it was told."""

    name: str
    code: frozenset[int]
    token: str | None = None
    changed: int = 0
    removed: int = 0
    budget: int = 0


@dataclass(frozen=True)
class State:
    """A global state of both applications and the relation."""

    p_units: tuple[Unit, ...]
    r_units: tuple[Unit, ...]
    p_leader: str
    r_leader: str
    p_bag: Bag = ()
    r_bag: Bag = ()
    pending: frozenset[str] = frozenset()
    content: int = 0
    published: int | None = None
    step: int = 0


@dataclass(frozen=True)
class Scenario:
    """A starting point and a script of external events."""

    name: str
    p_codes: tuple[frozenset[int], ...]
    r_codes: tuple[frozenset[int], ...]
    script: tuple[Event, ...] = ()
    content: int = 0


def _bag(items: dict[str, str]) -> Bag:
    return tuple(sorted(items.items()))


def _projection(content: int, version: int) -> ks.ServiceInfo:
    return ks.decode_payload(ks.encode_payload(CONTENTS[content], version), version)


def _projections(content: int, versions: Iterable[int]) -> int:
    return len({_projection(content, v) for v in versions if v in ks.SUPPORTED_VERSIONS})


def _advertised(bag: Bag) -> frozenset[int] | None:
    adv = ks.read_advertisement(dict(bag))
    return adv.versions if adv.kind == 'modern' else None


def initial(scenario: Scenario) -> State:
    """Relation just created: every unit has relation-created pending."""
    p_units = tuple(Unit(f'p{i}', c) for i, c in enumerate(scenario.p_codes))
    r_units = tuple(
        Unit(f'r{i}', c, budget=_projections(scenario.content, c))
        for i, c in enumerate(scenario.r_codes)
    )
    pending = frozenset(u.name for u in p_units + r_units)
    return State(p_units, r_units, 'p0', 'r0', pending=pending, content=scenario.content)


def _unit(state: State, name: str) -> Unit:
    for unit in state.p_units + state.r_units:
        if unit.name == name:
            return unit
    raise KeyError(name)


def _replace_unit(state: State, unit: Unit) -> State:
    if unit.name.startswith('p'):
        return replace(
            state, p_units=tuple(unit if u.name == unit.name else u for u in state.p_units)
        )
    return replace(state, r_units=tuple(unit if u.name == unit.name else u for u in state.r_units))


def _names(units: tuple[Unit, ...]) -> frozenset[str]:
    return frozenset(u.name for u in units)


def _check_blocked(state: State, status: ks.StatusInfo, who: str) -> None:
    if status.name != 'blocked':
        return
    p_adv, r_adv = _advertised(state.p_bag), _advertised(state.r_bag)
    if 'invalid' in status.message:
        raise ViolationError(
            f'{who} reports invalid data in a model with only valid data: {status}'
        )
    if p_adv is None or r_adv is None or (p_adv & r_adv):
        raise ViolationError(f'{who} Blocked while advertisements are {p_adv} / {r_adv}: {status}')


def run_hook(state: State, name: str) -> State:
    """Run one pending unit's hook: snapshot, step, commit, mark remote units pending."""
    state = replace(state, pending=state.pending - {name})
    unit = _unit(state, name)
    if name.startswith('p'):
        if name != state.p_leader:
            return state
        payloads = {v: ks.encode_payload(CONTENTS[state.content], v) for v in unit.code}
        new = _bag(ks.leader_step(unit.code, dict(state.p_bag), dict(state.r_bag), payloads))
        if new != state.p_bag:
            state = replace(state, p_bag=new, pending=state.pending | _names(state.r_units))
        state = replace(state, published=state.content)
        status = ks.provider_status(unit.code, dict(state.r_bag), is_leader=True)
        _check_blocked(state, status, name)
        return state
    is_leader = name == state.r_leader
    if is_leader:
        new = _bag(ks.leader_step(unit.code, dict(state.r_bag), dict(state.p_bag)))
        if new != state.r_bag:
            state = replace(state, r_bag=new, pending=state.pending | _names(state.p_units))
    result = ks.reader_step(
        unit.code | {ks.LEGACY_VERSION},
        dict(state.p_bag),
        unit.token,
        own_advertised=unit.code if is_leader else None,
    )
    _check_read(state, unit, result)
    unit = replace(
        unit,
        token=result.token,
        changed=unit.changed + result.events.count('changed'),
        removed=unit.removed + result.events.count('removed'),
    )
    if unit.changed > unit.budget:
        raise ViolationError(
            f'{name}: {unit.changed} changed events for {unit.budget} real changes'
        )
    return _replace_unit(state, unit)


def _check_read(state: State, unit: Unit, result: ks.ReaderResult) -> None:
    if 'removed' in result.events:
        p_adv, r_adv = _advertised(state.p_bag), _advertised(state.r_bag)
        if p_adv is not None and r_adv is not None and (p_adv & r_adv & unit.code):
            raise ViolationError(
                f'{unit.name} lost its data (gap) although it reads '
                f'{sorted(p_adv & r_adv & unit.code)} of the common versions'
            )
    if result.version is not None and result.version not in unit.code:
        raise ViolationError(
            f'{unit.name} decoded v{result.version} with code {sorted(unit.code)}'
        )
    if result.service is not None:
        assert result.version is not None
        assert state.published is not None
        expected = _projection(state.published, result.version)
        if result.service != expected:
            raise ViolationError(f'{unit.name} holds stale data {result.service}, not {expected}')
    _check_blocked(state, result.status, unit.name)


def apply_event(state: State, event: Event) -> State:
    """Apply one external event of the script."""
    kind = event[0]
    state = replace(state, step=state.step + 1)
    if kind == 'refresh':
        name, code = str(event[1]), frozenset(event[2])  # type: ignore[arg-type]
        unit = replace(_unit(state, name), code=code)
        state = _replace_unit(state, unit)
        return _bump(replace(state, pending=state.pending | {name}), 1)
    if kind == 'leader':
        name = str(event[1])
        if name.startswith('p'):
            state = replace(state, p_leader=name)
        else:
            state = replace(state, r_leader=name)
        return _bump(replace(state, pending=state.pending | {name}), 1)
    if kind == 'content':
        content = int(event[1])  # type: ignore[arg-type]
        state = replace(state, content=content, pending=state.pending | {state.p_leader})
        return _bump(state, None)
    if kind == 'join':
        name, code = str(event[1]), frozenset(event[2])  # type: ignore[arg-type]
        if name.startswith('p'):
            state = replace(state, p_units=(*state.p_units, Unit(name, code)))
            remote = _names(state.r_units)
        else:
            unit = Unit(name, code, budget=_projections(state.content, code))
            state = replace(state, r_units=(*state.r_units, unit))
            remote = _names(state.p_units)
        return replace(state, pending=state.pending | {name} | remote)
    if kind == 'leave':
        name = str(event[1])
        assert name not in (state.p_leader, state.r_leader), 'only non-leaders leave'
        state = replace(
            state,
            p_units=tuple(u for u in state.p_units if u.name != name),
            r_units=tuple(u for u in state.r_units if u.name != name),
            pending=state.pending - {name},
        )
        other = _names(state.r_units if name.startswith('p') else state.p_units)
        return replace(state, pending=state.pending | other)
    if kind == 'recreate':
        r_units = tuple(
            replace(
                u,
                token=None,
                removed=u.removed + (1 if u.token and u.token.startswith('data:') else 0),
            )
            for u in state.r_units
        )
        state = replace(state, r_units=r_units, p_bag=(), r_bag=(), published=None)
        state = replace(state, pending=_names(state.p_units + state.r_units))
        return _bump(state, None)
    raise ValueError(f'unknown event {event}')


def _bump(state: State, extra: int | None) -> State:
    """Raise every requirer unit's budget: by `extra` per distinct projection of the content
    (a refresh or leader change), or by the new content's projections (content change)."""
    units = tuple(
        replace(u, budget=u.budget + (extra or 1) * _projections(state.content, u.code | V12))
        for u in state.r_units
    )
    return replace(state, r_units=units)


def successors(state: State, script: tuple[Event, ...]) -> list[tuple[str, State]]:
    """Every state one transition away: a pending hook, or the next scripted event."""
    out = [(f'hook {name}', run_hook(state, name)) for name in sorted(state.pending)]
    if state.step < len(script):
        out.append((f'event {script[state.step]}', apply_event(state, script[state.step])))
    return out


def _trace(parents: dict[State, tuple[State, str] | None], state: State) -> str:
    lines: list[str] = []
    link = parents.get(state)
    while link is not None:
        previous, label = link
        lines.append(label)
        link = parents.get(previous)
    return ' -> '.join(reversed(lines)) or '(start)'


def check_quiescent(state: State) -> None:
    """The invariants that hold once nothing is pending and the script is done."""
    p_lead, r_lead = _unit(state, state.p_leader), _unit(state, state.r_leader)
    chosen = ks.select_version(p_lead.code, r_lead.code)
    p_bag, r_bag = dict(state.p_bag), dict(state.r_bag)
    p_version, r_version = p_bag.get('version'), r_bag.get('version')
    want = None if chosen is None else str(chosen)
    if p_version != want or r_version != want:
        raise ViolationError(f'versions {p_version}/{r_version}, expected {want}')
    if chosen is None:
        p_status = ks.provider_status(p_lead.code, r_bag, is_leader=True)
        r_status = ks.reader_step(r_lead.code, p_bag, None, own_advertised=r_lead.code).status
        if p_status.name != 'blocked' or r_status.name != 'blocked':
            raise ViolationError(f'no overlap but statuses {p_status} / {r_status}')
    common = p_lead.code & r_lead.code
    for unit in state.r_units:
        readable = common & unit.code
        expected = _projection(state.content, max(readable)) if readable else None
        token = f'data:{expected.fingerprint()}' if expected else None
        held = unit.token if unit.token and unit.token.startswith('data:') else None
        if held != token:
            raise ViolationError(
                f'{unit.name} holds {unit.token} at quiescence, expected {expected}'
            )


def explore(scenario: Scenario, limit: int = 2_000_000) -> int:
    """Explore every interleaving of `scenario`; return the number of distinct states."""
    start = initial(scenario)
    parents: dict[State, tuple[State, str] | None] = {start: None}
    stack = [start]
    while stack:
        state = stack.pop()
        try:
            nexts = successors(state, scenario.script)
            if not nexts:
                check_quiescent(state)
        except Exception as e:
            raise ViolationError(f'{scenario.name}: {e}\n  trace: {_trace(parents, state)}') from e
        for label, nxt in nexts:
            if nxt not in parents:
                parents[nxt] = (state, label)
                stack.append(nxt)
        if len(parents) > limit:
            raise RuntimeError(f'{scenario.name}: more than {limit} states')
    return len(parents)


@dataclass(frozen=True)
class Rounds:
    """Synchronous rounds to first data on every requirer unit and to quiescence."""

    data: int | None
    quiet: int


def _has_expected_data(state: State) -> bool:
    p_lead = _unit(state, state.p_leader)
    for unit in state.r_units:
        if not unit.token or not unit.token.startswith('data:'):
            return False
        readable = p_lead.code & unit.code
        if not readable:
            return False
    return True


def sync_rounds(state: State, max_rounds: int = 20) -> Rounds:
    """Run synchronous rounds from `state` (its pending hooks are round 1)."""
    data_round: int | None = 0 if _has_expected_data(state) else None
    rounds = 0
    while state.pending:
        rounds += 1
        if rounds > max_rounds:
            raise ViolationError(f'no quiescence after {max_rounds} rounds')
        snapshot = state
        pending = sorted(state.pending)
        state = replace(state, pending=frozenset())
        for name in pending:
            # Every hook of the round reads the round's starting bags.
            ran = run_hook(replace(snapshot, pending=frozenset({name})), name)
            state = _merge(state, snapshot, ran, name)
        if data_round is None and _has_expected_data(state):
            data_round = rounds
    return Rounds(data_round, rounds)


def _merge(acc: State, before: State, after: State, name: str) -> State:
    if after.p_bag != before.p_bag:
        acc = replace(acc, p_bag=after.p_bag, published=after.published)
    elif name == before.p_leader:
        acc = replace(acc, published=after.published)
    if after.r_bag != before.r_bag:
        acc = replace(acc, r_bag=after.r_bag)
    acc = replace(acc, pending=acc.pending | after.pending)
    if name.startswith('r'):
        acc = _replace_unit(acc, _unit(after, name))
    return acc


def settle(state: State) -> State:
    """Run synchronous rounds until quiescent (the scenario's setup)."""
    while state.pending:
        pending = sorted(state.pending)
        for name in pending:
            state = run_hook(state, name)
    return state


def rounds_for(scenario: Scenario) -> Rounds:
    """Rounds for a fresh relation (empty script) or after the script's events, applied at once
    after the relation settled."""
    state = initial(scenario)
    if scenario.script:
        state = settle(state)
        for event in scenario.script:
            state = apply_event(state, event)
    return sync_rounds(state)


V1, V2, V12 = frozenset({1}), frozenset({2}), frozenset({1, 2})

SMALL: tuple[Scenario, ...] = (
    Scenario('fresh v1,2 / v1,2', (V12, V12), (V12, V12)),
    Scenario('fresh, requirer older', (V12, V12), (V1, V1)),
    Scenario('fresh, provider older', (V1, V1), (V12, V12)),
    Scenario('fresh, no overlap', (V2, V2), (V1, V1)),
    Scenario('fresh, mixed requirer units, two ports', (V12, V12), (V1, V12), content=2),
    Scenario(
        'requirer refreshed later, non-leader first',
        (V12, V12),
        (V1, V1),
        (('refresh', 'r1', V12), ('refresh', 'r0', V12)),
    ),
    Scenario(
        'requirer refreshed later, leader first',
        (V12, V12),
        (V1, V1),
        (('refresh', 'r0', V12), ('refresh', 'r1', V12)),
    ),
    Scenario(
        'provider refreshed later, two ports',
        (V1, V1),
        (V12, V12),
        (('refresh', 'p1', V12), ('refresh', 'p0', V12)),
        content=2,
    ),
    Scenario(
        'requirer rolled back',
        (V12, V12),
        (V12, V12),
        (('refresh', 'r0', V1), ('refresh', 'r1', V1)),
        content=2,
    ),
    Scenario(
        'provider rolled back, then content change',
        (V12, V12),
        (V12, V12),
        (('refresh', 'p0', V1), ('content', 1)),
    ),
    Scenario(
        'leader changes mid-negotiation',
        (V12, V1),
        (V1, V12),
        (('leader', 'p1'), ('leader', 'r1')),
    ),
    Scenario(
        'late join, content change, leave',
        (V12, V12),
        (V12, V12),
        (('join', 'r2', V1), ('content', 1), ('leave', 'r1')),
    ),
    Scenario('relation re-created', (V12, V12), (V12, V1), (('content', 1), ('recreate',))),
)

FULL: tuple[Scenario, ...] = (
    *SMALL,
    Scenario(
        'everything at once',
        (V12, V12),
        (V1, V1),
        (
            ('refresh', 'r1', V12),
            ('leader', 'p1'),
            ('content', 1),
            ('refresh', 'r0', V12),
            ('join', 'p2', V1),
            ('leader', 'r1'),
            ('content', 2),
        ),
    ),
    Scenario(
        'upgrade, rollback, re-create',
        (V1, V1),
        (V12, V12),
        (
            ('refresh', 'p0', V12),
            ('refresh', 'p1', V12),
            ('content', 2),
            ('refresh', 'p0', V1),
            ('recreate',),
            ('content', 0),
        ),
    ),
)

LARGE: tuple[Scenario, ...] = (
    *FULL,
    Scenario('fresh 3+3, mixed codes, two ports', (V12, V1, V12), (V1, V12, V12), content=2),
    Scenario(
        '3+3 rolling refresh of the requirer with a content change',
        (V12, V12, V12),
        (V1, V1, V1),
        (('refresh', 'r2', V12), ('content', 1), ('refresh', 'r0', V12), ('refresh', 'r1', V12)),
    ),
    Scenario(
        '3+3 provider rollback, leader moves, join and leave',
        (V12, V12, V12),
        (V12, V12, V12),
        (
            ('refresh', 'p1', V1),
            ('leader', 'p1'),
            ('join', 'r3', V1),
            ('leave', 'r2'),
            ('content', 2),
            ('refresh', 'p0', V1),
        ),
    ),
)

ROUND_SCENARIOS: tuple[Scenario, ...] = (
    Scenario('fresh relation', (V12, V12), (V12, V12)),
    Scenario('fresh, requirer older', (V12, V12), (V1, V1)),
    Scenario('fresh, provider older', (V1, V1), (V12, V12)),
    Scenario(
        'requirer upgraded', (V12, V12), (V1, V1), (('refresh', 'r0', V12), ('refresh', 'r1', V12))
    ),
    Scenario(
        'provider upgraded', (V1, V1), (V12, V12), (('refresh', 'p0', V12), ('refresh', 'p1', V12))
    ),
    Scenario(
        'requirer rolled back',
        (V12, V12),
        (V12, V12),
        (('refresh', 'r0', V1), ('refresh', 'r1', V1)),
    ),
    Scenario('content change', (V12, V12), (V12, V12), (('content', 1),)),
)


def run(scenarios: Iterable[Scenario], out: object = sys.stdout) -> int:
    """Explore every scenario, printing one line each; return the total number of states."""
    total = 0
    for scenario in scenarios:
        began = time.perf_counter()
        count = explore(scenario)
        total += count
        elapsed = time.perf_counter() - began
        print(f'{scenario.name:60} {count:>8} states  {elapsed:6.2f}s', file=out)  # type: ignore[call-overload]
    print(f'{"total":60} {total:>8} states explored, no violation', file=out)  # type: ignore[call-overload]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--scope', choices=('small', 'full', 'large'), default='full')
    args = parser.parse_args()
    run({'small': SMALL, 'full': FULL, 'large': LARGE}[args.scope])
    for scenario in ROUND_SCENARIOS:
        rounds = rounds_for(scenario)
        print(f'rounds  {scenario.name:32} data after {rounds.data}, quiet after {rounds.quiet}')


if __name__ == '__main__':
    main()
