"""Two-sided ops.testing runs of the k8s-service lib through its charm-facing API.

Two small charms (a provider and a requirer) run the real library in `ops.testing.Context`s, one
per unit and code version; a harness passes each side's output application bag to the other
side's input, keeps each unit's StoredState, and replays hook orderings (synchronous rounds,
scripted refreshes and rollbacks, and Hypothesis-chosen interleavings).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0 import k8s_service as ks
from charms.reconcile_libs.v0.reconciler import CharmReconciler, Component, ReconcileContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ops import testing

ENDPOINT = 'k8s-service'
RELATION_ID = 7
V1, V2, V12 = frozenset({1}), frozenset({2}), frozenset({1, 2})

PROVIDER_META: dict[str, Any] = {
    'name': 'web',
    'provides': {ENDPOINT: {'interface': 'k8s-service'}},
}
PROVIDER_CONFIG: dict[str, Any] = {
    'options': {
        'port': {'type': 'int', 'default': 8080},
        'port-name': {'type': 'string', 'default': ''},
        'legacy': {'type': 'string', 'default': ''},
    }
}
REQUIRER_META: dict[str, Any] = {
    'name': 'proxy',
    'requires': {ENDPOINT: {'interface': 'k8s-service'}},
}


def provider_charm(versions: frozenset[int]) -> type[ops.CharmBase]:
    class Provider(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            legacy = [d for d in str(self.config['legacy']).split(',') if d]
            self.k8s = ks.K8sServiceProvider(
                self, service=self._service, versions=versions, legacy_dialects=legacy
            )
            framework.observe(self.on.collect_unit_status, self._on_collect)

        def _service(self) -> ks.ServiceInfo:
            name = str(self.config['port-name']) or None
            port = ks.ServicePort(int(self.config['port']), name)
            return ks.ServiceInfo(self.app.name, self.model.name, (port,))

        def _on_collect(self, event: ops.CollectStatusEvent) -> None:
            event.add_status(self.k8s.get_status())

    return Provider


def requirer_charm(versions: frozenset[int]) -> type[ops.CharmBase]:
    class Requirer(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            self.backend = ks.K8sServiceRequirer(self, versions=versions)
            framework.observe(self.on.collect_unit_status, self._on_collect)

        def _on_collect(self, event: ops.CollectStatusEvent) -> None:
            event.add_status(self.backend.get_status())

    return Requirer


_CONTEXTS: dict[tuple[str, frozenset[int], int], testing.Context[Any]] = {}


def context(side: str, versions: frozenset[int], unit_id: int) -> testing.Context[Any]:
    key = (side, versions, unit_id)
    if key not in _CONTEXTS:
        if side == 'p':
            _CONTEXTS[key] = testing.Context(
                provider_charm(versions),
                meta=PROVIDER_META,
                config=PROVIDER_CONFIG,
                app_name='web',
                unit_id=unit_id,
            )
        else:
            _CONTEXTS[key] = testing.Context(
                requirer_charm(versions), meta=REQUIRER_META, app_name='proxy', unit_id=unit_id
            )
    return _CONTEXTS[key]


@dataclass
class SimUnit:
    side: str
    index: int
    versions: frozenset[int]
    stored: frozenset[testing.StoredState] = frozenset()
    status: Any = None
    events: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f'{self.side}{self.index}'


class Sim:
    """Both applications of one relation, hook by hook."""

    def __init__(
        self,
        p_versions: list[frozenset[int]],
        r_versions: list[frozenset[int]],
        config: dict[str, Any] | None = None,
    ):
        self.units = {
            u.name: u
            for u in [SimUnit('p', i, v) for i, v in enumerate(p_versions)]
            + [SimUnit('r', i, v) for i, v in enumerate(r_versions)]
        }
        self.bags: dict[str, dict[str, str]] = {'p': {}, 'r': {}}
        self.leaders = {'p': 'p0', 'r': 'r0'}
        self.config: dict[str, Any] = config or {}
        self.pending: dict[str, str] = dict.fromkeys(self.units, 'relation_created')
        self.commits = 0

    def _remote_units(self, side: str) -> dict[int, dict[str, str]]:
        other = 'r' if side == 'p' else 'p'
        return {u.index: {} for u in self.units.values() if u.side == other}

    def run(self, name: str, kind: str | None = None) -> None:
        """Run one hook on unit `name`, then commit its app bag and mark remote units."""
        unit = self.units[name]
        if kind is None:
            kind = self.pending.pop(name, 'relation_changed')
        side, other = unit.side, ('r' if unit.side == 'p' else 'p')
        relation = testing.Relation(
            ENDPOINT,
            interface='k8s-service',
            id=RELATION_ID,
            remote_app_name='proxy' if side == 'p' else 'web',
            local_app_data=dict(self.bags[side]),
            remote_app_data=dict(self.bags[other]),
            remote_units_data=self._remote_units(side),
        )
        is_leader = self.leaders[side] == name
        state = testing.State(
            leader=is_leader,
            relations={relation},
            stored_states=unit.stored,
            config=self.config if side == 'p' else {},
            model=testing.Model(name='shop'),
        )
        ctx = context(side, unit.versions, unit.index)
        before = len(ctx.emitted_events)
        event = {
            'relation_created': lambda: ctx.on.relation_created(relation),
            'relation_changed': lambda: ctx.on.relation_changed(relation, remote_unit=0),
            'upgrade_charm': ctx.on.upgrade_charm,
            'leader_elected': ctx.on.leader_elected,
            'config_changed': ctx.on.config_changed,
        }[kind]()
        out = ctx.run(event, state)
        unit.stored = frozenset(out.stored_states)
        unit.status = out.unit_status
        unit.events += [
            type(e).__name__
            for e in ctx.emitted_events[before:]
            if isinstance(
                e,
                ks.K8sServiceChangedEvent
                | ks.K8sServiceRemovedEvent
                | ks.K8sServiceIncompatibleEvent,
            )
        ]
        new_bag = dict(out.get_relation(RELATION_ID).local_app_data)
        if not is_leader:
            assert new_bag == self.bags[side], f'non-leader {name} changed app data'
        elif new_bag != self.bags[side]:
            self.bags[side] = new_bag
            self.commits += 1
            for remote in self.units.values():
                if remote.side == other:
                    self.pending.setdefault(remote.name, 'relation_changed')

    def round(self) -> bool:
        """One synchronous round: every pending unit runs once on the same snapshot."""
        pending = dict(self.pending)
        self.pending.clear()
        snapshot = {k: dict(v) for k, v in self.bags.items()}
        committed: dict[str, dict[str, str]] = {}
        for name, kind in sorted(pending.items()):
            self.bags = {k: dict(v) for k, v in snapshot.items()}
            self.run(name, kind)
            side = self.units[name].side
            if self.bags[side] != snapshot[side]:
                committed[side] = self.bags[side]
        self.bags = {**snapshot, **committed}
        return bool(pending)

    def settle(self, max_rounds: int = 10) -> int:
        rounds = 0
        while self.pending:
            rounds += 1
            assert rounds <= max_rounds, 'no quiescence'
            self.round()
        return rounds

    def refresh(self, name: str, versions: frozenset[int]) -> None:
        self.units[name].versions = versions
        self.pending[name] = 'upgrade_charm'

    def service_seen(self, name: str) -> ks.ServiceInfo | None:
        """What the requirer unit `name` would hand its workload now."""
        unit = self.units[name]
        result = ks.reader_step(unit.versions | {0}, self.bags['p'], None)
        return result.service

    def requirer_units(self) -> list[SimUnit]:
        return [u for u in self.units.values() if u.side == 'r']


EXPECTED = ks.ServiceInfo('web', 'shop', (ks.ServicePort(8080),))


def _changed(unit: SimUnit) -> int:
    return unit.events.count('K8sServiceChangedEvent')


# --- fresh relation, rounds, steady state ----------------------------------------------------


@pytest.mark.parametrize(
    ('p_versions', 'r_versions', 'agreed'),
    [(V12, V12, 2), (V12, V1, 1), (V1, V12, 1), (V2, V12, 2)],
)
def test_fresh_relation_data_after_2_rounds_quiet_after_3(
    p_versions: frozenset[int], r_versions: frozenset[int], agreed: int
):
    sim = Sim([p_versions, p_versions], [r_versions, r_versions])
    sim.round()
    assert all(_changed(u) == 0 for u in sim.requirer_units())
    sim.round()
    for unit in sim.requirer_units():
        assert unit.events == ['K8sServiceChangedEvent'], unit.name
        assert isinstance(unit.status, ops.ActiveStatus), unit.status
    sim.round()
    assert not sim.pending, 'not quiet after 3 rounds'
    assert json.loads(sim.bags['p']['version']) == json.loads(sim.bags['r']['version']) == agreed
    assert all(_changed(u) == 1 for u in sim.requirer_units())
    assert isinstance(sim.units['p0'].status, ops.ActiveStatus), sim.units['p0'].status


@pytest.fixture
def commit_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = ops.model.RelationDataContent._commit

    def counting(self: ops.model.RelationDataContent, data: Any) -> None:
        calls.append(len(data))
        real(self, data)

    monkeypatch.setattr(ops.model.RelationDataContent, '_commit', counting)
    return calls


@pytest.mark.parametrize(
    'kind', ['relation_changed', 'config_changed', 'upgrade_charm', 'leader_elected']
)
def test_steady_state_hooks_write_nothing_and_emit_nothing(kind: str, commit_counter: list[int]):
    sim = Sim([V12, V12], [V12, V12])
    sim.settle()
    assert len(commit_counter) == 4  # the counter sees real writes: 2 per leader while negotiating
    commit_counter.clear()
    bags = {k: dict(v) for k, v in sim.bags.items()}
    events = {n: list(u.events) for n, u in sim.units.items()}
    for name in sim.units:
        sim.run(name, kind)
    assert commit_counter == []
    assert sim.bags == bags
    assert not sim.pending
    assert {n: u.events for n, u in sim.units.items()} == events


# --- refresh and rollback --------------------------------------------------------------------


@pytest.mark.parametrize(
    'order', [['r1', 'r0'], ['r0', 'r1']], ids=['non-leader first', 'leader first']
)
def test_requirer_rolling_refresh_keeps_data_without_events(order: list[str]):
    sim = Sim([V12, V12], [V1, V1])
    sim.settle()
    for name in order:
        sim.refresh(name, V12)
        while sim.pending:
            sim.round()
            for unit in sim.requirer_units():
                assert sim.service_seen(unit.name) == EXPECTED, 'gap during refresh'
    assert all(_changed(u) == 1 for u in sim.requirer_units())
    assert sim.bags['p']['version'] == sim.bags['r']['version'] == '2'
    assert {'v1', 'v2'} <= set(sim.bags['p'])


def test_provider_rollback_prunes_the_newer_payload_and_converges():
    sim = Sim([V12, V12], [V12, V12])
    sim.settle()
    sim.refresh('p0', V1)
    sim.refresh('p1', V1)
    sim.settle()
    assert 'v2' not in sim.bags['p']
    assert sim.bags['p']['version'] == sim.bags['r']['version'] == '1'
    assert all(_changed(u) == 1 for u in sim.requirer_units())
    assert all(isinstance(u.status, ops.ActiveStatus) for u in sim.units.values())


def test_content_change_emits_exactly_one_changed_per_unit():
    sim = Sim([V12, V12], [V12, V1])
    sim.settle()
    sim.config = {'port': 9000}
    sim.pending['p0'] = 'config_changed'
    sim.settle()
    assert all(_changed(u) == 2 for u in sim.requirer_units())
    for unit in sim.requirer_units():
        seen = sim.service_seen(unit.name)
        assert seen is not None
        assert seen.port() == 9000


def test_leader_change_republishes_nothing_new(commit_counter: list[int]):
    sim = Sim([V12, V12], [V12, V12])
    sim.settle()
    commit_counter.clear()
    sim.leaders = {'p': 'p1', 'r': 'r1'}
    sim.pending.update({'p1': 'leader_elected', 'r1': 'leader_elected'})
    sim.settle()
    assert commit_counter == []
    assert all(_changed(u) == 1 for u in sim.requirer_units())


# --- incompatibility, invalid data, non-leaders ----------------------------------------------


def test_no_overlap_blocks_both_leaders_with_sets_and_remedy():
    sim = Sim([V2, V2], [V1, V1])
    sim.settle()
    provider, requirer = sim.units['p0'].status, sim.units['r0'].status
    assert isinstance(provider, ops.BlockedStatus)
    assert provider.message == (
        'k8s-service: no common protocol with proxy (web: v2; proxy: v1); refresh proxy to a '
        'revision supporting v2, or web to one supporting v1'
    )
    assert isinstance(requirer, ops.BlockedStatus)
    assert 'proxy: v1; web: v2' in requirer.message
    assert sim.units['r0'].events == ['K8sServiceIncompatibleEvent']
    assert sim.units['p0'].events == ['K8sServiceIncompatibleEvent']
    assert isinstance(sim.units['r1'].status, ops.WaitingStatus)
    assert 'v2' not in sim.bags['p']
    assert 'version' not in sim.bags['p']


def test_requirer_waits_while_the_provider_has_not_advertised():
    sim = Sim([V12], [V12, V12])
    sim.run('r0')
    sim.run('r1')
    for name in ('r0', 'r1'):
        status = sim.units[name].status
        assert status == ops.WaitingStatus(
            'k8s-service: waiting for web to advertise protocol versions'
        )


def test_invalid_config_blocks_the_provider_and_keeps_the_last_good_data():
    sim = Sim([V12], [V12])
    sim.settle()
    published = dict(sim.bags['p'])
    sim.config = {'port': 70000}
    sim.pending['p0'] = 'config_changed'
    sim.settle()
    assert sim.bags['p'] == published
    status = sim.units['p0'].status
    assert isinstance(status, ops.BlockedStatus)
    assert status.message.startswith('k8s-service: invalid service to publish: v1: port:')


def test_non_leader_provider_never_writes_or_raises():
    sim = Sim([V12, V12], [V12])
    sim.settle()
    for kind in ('relation_changed', 'config_changed', 'upgrade_charm', 'relation_created'):
        sim.run('p1', kind)  # Sim.run asserts a non-leader leaves app data alone
    assert isinstance(sim.units['p1'].status, ops.ActiveStatus)


def _fresh_requirer_context() -> testing.Context[Any]:
    return testing.Context(requirer_charm(V12), meta=REQUIRER_META, app_name='proxy')


def test_nothing_is_emitted_from_init():
    ctx = _fresh_requirer_context()
    relation = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_data={'versions': '[1]', 'v1': '{"name":"web","namespace":"shop","port":80}'},
    )
    for leader in (False, True):
        ctx.run(ctx.on.update_status(), testing.State(leader=leader, relations={relation}))
    assert [type(e).__name__ for e in ctx.emitted_events] == ['UpdateStatusEvent'] * 2
    ctx.run(ctx.on.relation_changed(relation), testing.State(relations={relation}))
    assert any(isinstance(e, ks.K8sServiceChangedEvent) for e in ctx.emitted_events)


def test_relation_broken_emits_removed_once():
    ctx = _fresh_requirer_context()
    relation = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_data={'versions': '[1]', 'v1': '{"name":"web","namespace":"shop","port":80}'},
    )
    out = ctx.run(ctx.on.relation_changed(relation), testing.State(relations={relation}))
    out = ctx.run(ctx.on.relation_broken(relation), out)
    kinds = [type(e).__name__ for e in ctx.emitted_events if isinstance(e, ops.RelationEvent)]
    assert kinds.count('K8sServiceChangedEvent') == 1
    assert kinds.count('K8sServiceRemovedEvent') == 1
    assert out.unit_status == ops.WaitingStatus('k8s-service: waiting for a k8s-service relation')


def test_many_relations_each_read_and_the_worst_status_wins():
    ctx = context('r', V12, 0)
    good = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='web',
        remote_app_data={
            'versions': '[2]',
            'v2': '{"name":"web","namespace":"shop","ports":[{"port":80}]}',
        },
    )
    legacy = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='mlmd',
        remote_app_data={'name': 'mlmd', 'port': '8080'},
    )
    bad = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='kfp',
        remote_app_data={'versions': '[2]', 'v2': '{}'},
    )
    with ctx(
        ctx.on.relation_changed(good), testing.State(leader=True, relations={good, legacy, bad})
    ) as mgr:
        mgr.run()
        services = mgr.charm.backend.services()
        assert services == {
            good.id: ks.ServiceInfo('web', 'shop', (ks.ServicePort(80),)),
            legacy.id: ks.ServiceInfo('mlmd', None, (ks.ServicePort(8080),)),
        }
        status = mgr.charm.backend.get_status()
    assert isinstance(status, ops.BlockedStatus)
    assert status.message == 'k8s-service: invalid data from kfp: v2: name: Field required'
    # the healthy relations do not count as "more"; the blocked one wins over none waiting


# --- legacy interop --------------------------------------------------------------------------


@pytest.mark.parametrize('dialect', ks.LEGACY_DIALECTS)
def test_provider_legacy_publishing_is_read_by_a_legacy_style_reader(dialect: str):
    sim = Sim([V12], [V12], config={'legacy': dialect})
    sim.run('p0')
    bag = sim.bags['p']
    legacy_only = {k: v for k, v in bag.items() if not (k.startswith('v') and k[1:].isdigit())}
    legacy_only.pop('versions')
    decoded = ks.decode_legacy(legacy_only)
    assert decoded is not None
    assert decoded.port() == 8080
    assert isinstance(sim.units['p0'].status, ops.ActiveStatus) or dialect == 'sdi'


def test_requirer_reads_an_sdi_provider():
    ctx = context('r', V12, 0)
    relation = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='kfp-api',
        remote_app_data={
            '_supported_versions': '- v1\n',
            'data': "service-name: kfp-api.kubeflow\nservice-port: '8888'\n",
        },
    )
    with ctx(
        ctx.on.relation_changed(relation), testing.State(leader=True, relations={relation})
    ) as mgr:
        out = mgr.run()
        assert mgr.charm.backend.service() == ks.ServiceInfo(
            'kfp-api', 'kubeflow', (ks.ServicePort(8888),)
        )
    assert out.unit_status == ops.ActiveStatus()
    assert json.loads(out.get_relation(relation.id).local_app_data['versions']) == [1, 2]


# --- fuzzing the remote bag through the ops layer --------------------------------------------

junk = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            '[1]',
            '[2]',
            '[1,2]',
            '[',
            '"x"',
            '{}',
            '2',
            '- v1',
            'a: [',
            '{"name":"web","namespace":"shop","port":0}',
        ]
    ),
)
fuzz_keys = st.sampled_from(
    [
        'versions',
        'version',
        'v1',
        'v2',
        'v7',
        'data',
        '_supported_versions',
        'name',
        'port',
        'service-name',
        'service-port',
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(fuzz_keys, junk, max_size=5), st.booleans(), st.sampled_from(['r', 'p']))
def test_fuzzed_remote_bag_never_escapes_a_hook(bag: dict[str, str], leader: bool, side: str):
    ctx = context(side, V12, 0)
    relation = testing.Relation(
        ENDPOINT, interface='k8s-service', remote_app_name='other', remote_app_data=bag
    )
    out = ctx.run(
        ctx.on.relation_changed(relation),
        testing.State(leader=leader, relations={relation}, model=testing.Model(name='shop')),
    )
    status = out.unit_status
    assert isinstance(status, ops.ActiveStatus | ops.WaitingStatus | ops.BlockedStatus)
    if isinstance(status, ops.BlockedStatus) and 'invalid data' in status.message:
        assert status.message.startswith('k8s-service: invalid data from other: ')
        path = status.message.removeprefix('k8s-service: invalid data from other: ')
        assert path.split(':')[0].split('[')[0].split('.')[0] in {
            'versions',
            'v1',
            'v2',
            'data',
            'name',
            'port',
            'service-name',
            'service-port',
        }


# --- Hypothesis-chosen interleavings through the ops layer -----------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_interleavings_converge_through_ops(data: st.DataObject):
    r_start = data.draw(st.sampled_from([V1, V12]), label='requirer code')
    sim = Sim([V12, V12], [r_start, r_start])
    script: list[tuple[str, ...]] = data.draw(
        st.lists(
            st.sampled_from(
                [
                    ('refresh', 'r0'),
                    ('refresh', 'r1'),
                    ('leader', 'p1'),
                    ('leader', 'r1'),
                    ('content',),
                ]
            ),
            max_size=3,
            unique=True,
        ),
        label='script',
    )
    steps = 0
    while sim.pending or script:
        steps += 1
        assert steps < 200
        choices = sorted(sim.pending) + (['event'] if script else [])
        choice = data.draw(st.sampled_from(choices))
        if choice != 'event':
            sim.run(choice)
            continue
        event = script.pop(0)
        if event[0] == 'refresh':
            sim.refresh(event[1], V12 if r_start == V1 else V1)
        elif event[0] == 'leader':
            side = event[1][0]
            sim.leaders[side] = event[1]
            sim.pending[event[1]] = 'leader_elected'
        else:
            sim.config = {'port': 9000}
            sim.pending[sim.leaders['p']] = 'config_changed'
    p_lead, r_lead = sim.units[sim.leaders['p']], sim.units[sim.leaders['r']]
    agreed = ks.select_version(p_lead.versions, r_lead.versions)
    assert sim.bags['p'].get('version') == sim.bags['r'].get('version') == str(agreed)
    port = 9000 if sim.config else 8080
    for unit in sim.requirer_units():
        seen = sim.service_seen(unit.name)
        assert seen == ks.ServiceInfo('web', 'shop', (ks.ServicePort(port),))
        assert 1 <= _changed(unit) <= (2 if sim.config else 1)
        assert isinstance(unit.status, ops.ActiveStatus), unit.status


# --- as reconciler components ----------------------------------------------------------------


class _Upstream(Component[str]):
    def __init__(self, backend: Component[list[ks.ServiceInfo]]):
        super().__init__('upstream')
        self.backend = backend

    def reconcile(self, ctx: ReconcileContext) -> str:
        service = ctx.output_of(self.backend)[0]
        return f'{service.host()}:{service.port()}'


class ReconciledRequirer(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.backend = ks.K8sServiceRequirer(self, observe=False)
        self.reconciler = CharmReconciler(self)
        backend = self.reconciler.add(ks.K8sServiceRequirerComponent(self.backend))
        self.upstream = self.reconciler.add(_Upstream(backend), depends_on=[backend])


class ReconciledProvider(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.k8s = ks.K8sServiceProvider(self, observe=False)
        self.reconciler = CharmReconciler(self)
        self.reconciler.add(ks.K8sServiceProviderComponent(self.k8s, self._service))

    def _service(self, ctx: ReconcileContext) -> ks.ServiceInfo:
        return ks.ServiceInfo(self.app.name, 'shop', (ks.ServicePort(int(self.config['port'])),))


def test_components_negotiate_and_feed_dependents():
    p_ctx = testing.Context(
        ReconciledProvider, meta=PROVIDER_META, config=PROVIDER_CONFIG, app_name='web'
    )
    r_ctx = testing.Context(ReconciledRequirer, meta=REQUIRER_META, app_name='proxy')
    p_rel = testing.Relation(ENDPOINT, interface='k8s-service', id=3, remote_app_name='proxy')
    r_rel = testing.Relation(ENDPOINT, interface='k8s-service', id=3, remote_app_name='web')
    p_state = testing.State(leader=True, relations={p_rel})
    r_state = testing.State(leader=True, relations={r_rel})
    r_state = r_ctx.run(r_ctx.on.relation_created(r_rel), r_state)
    assert (
        r_state.unit_status
        == ops.WaitingStatus(
            '[k8s-service] waiting for web to advertise protocol versions (+1 more)'
        )
        or r_state.unit_status.name == 'waiting'
    )
    p_state = p_ctx.run(p_ctx.on.relation_created(p_rel), p_state)
    upstream = None
    for _ in range(2):
        r_rel = r_state.get_relation(3)
        r_rel = testing.Relation(
            ENDPOINT,
            interface='k8s-service',
            id=3,
            remote_app_name='web',
            local_app_data=r_rel.local_app_data,
            remote_app_data=p_state.get_relation(3).local_app_data,
        )
        with r_ctx(
            r_ctx.on.relation_changed(r_rel), dataclasses.replace(r_state, relations={r_rel})
        ) as mgr:
            r_state = mgr.run()
            upstream = next(
                c for c in mgr.charm.reconciler.conditions if c.component == 'upstream'
            )
        p_rel = testing.Relation(
            ENDPOINT,
            interface='k8s-service',
            id=3,
            remote_app_name='proxy',
            local_app_data=p_state.get_relation(3).local_app_data,
            remote_app_data=r_state.get_relation(3).local_app_data,
        )
        p_state = p_ctx.run(
            p_ctx.on.relation_changed(p_rel), dataclasses.replace(p_state, relations={p_rel})
        )
    assert upstream is not None
    assert upstream.ready
    assert r_state.unit_status == ops.ActiveStatus()
    assert p_state.unit_status == ops.ActiveStatus()
    assert p_state.get_relation(3).local_app_data['version'] == '2'


def test_invalid_remote_data_is_logged_once_per_transition(caplog: pytest.LogCaptureFixture):
    ctx = _fresh_requirer_context()
    bad = {'versions': '[2]', 'v2': '{"name":"web","namespace":"shop","ports":[{"port":0}]}'}
    relation = testing.Relation(
        ENDPOINT, interface='k8s-service', remote_app_name='web', remote_app_data=bad
    )
    state = testing.State(relations={relation})
    with caplog.at_level('WARNING', logger='charms.reconcile_libs.v0.k8s_service'):
        out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)
        out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), out)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == 'WARNING' and r.name == 'charms.reconcile_libs.v0.k8s_service'
    ]
    assert warnings == [
        'k8s-service: invalid data from web: v2: ports[0].port: '
        'Input should be greater than or equal to 1'
    ]
    assert out.unit_status == ops.BlockedStatus(f'k8s-service: {warnings[0][13:]}')


def test_provider_negotiates_each_relation_separately():
    ctx = testing.Context(
        provider_charm(V12), meta=PROVIDER_META, config=PROVIDER_CONFIG, app_name='web'
    )
    old = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='old',
        remote_app_data={'versions': '[1]'},
    )
    new = testing.Relation(
        ENDPOINT,
        interface='k8s-service',
        remote_app_name='new',
        remote_app_data={'versions': '[2]'},
    )
    none = testing.Relation(ENDPOINT, interface='k8s-service', remote_app_name='quiet')
    state = testing.State(
        leader=True, relations={old, new, none}, model=testing.Model(name='shop')
    )
    out = ctx.run(ctx.on.relation_changed(old, remote_unit=0), state)
    assert set(out.get_relation(old.id).local_app_data) == {'versions', 'version', 'v1'}
    assert set(out.get_relation(new.id).local_app_data) == {'versions', 'version', 'v2'}
    assert set(out.get_relation(none.id).local_app_data) == {'versions', 'v1', 'v2'}
    # the quiet requirer has not advertised yet: waiting, never blocked
    assert out.unit_status == ops.WaitingStatus(
        'k8s-service: waiting for old to confirm v1 (and 2 more relations)'
    )


def test_requirer_advertises_to_an_sdi_provider_then_reads_its_data():
    """An SDI provider sends `data` only after it sees the requirer's `_supported_versions`."""
    ctx = _fresh_requirer_context()
    sdi = {'_supported_versions': '- v1\n'}
    relation = testing.Relation(
        ENDPOINT, interface='k8s-service', remote_app_name='kfp-api', remote_app_data=sdi
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation}),
    )
    assert out.get_relation(relation.id).local_app_data == {
        'versions': '[1,2]',
        '_supported_versions': '- v1\n',
    }
    assert out.unit_status == ops.WaitingStatus(
        'k8s-service: waiting for service info from kfp-api'
    )
    relation = dataclasses.replace(
        out.get_relation(relation.id),
        remote_app_data={**sdi, 'data': "service-name: kfp-api.kubeflow\nservice-port: '8888'\n"},
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        dataclasses.replace(out, relations={relation}),
    )
    assert out.unit_status == ops.ActiveStatus()
    assert sum(isinstance(e, ks.K8sServiceChangedEvent) for e in ctx.emitted_events) == 1
