"""Unit tests of the reconciler through ops.testing (Scenario).

The test charm is assembled per test from small components that record what they do in a shared
journal, so each test asserts what a charm author or operator would notice: statuses, order of
work, which components ran, and whether the hook failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0.reconciler import (
    BlockedError,
    CharmReconciler,
    Component,
    Condition,
    ConfigComponent,
    GraphError,
    MaintenanceError,
    ReconcileContext,
    WaitingError,
)
from ops import testing

META: dict[str, Any] = {
    'name': 'test-charm',
    'containers': {'web': {}, 'sidecar': {}},
    'requires': {'db': {'interface': 'db'}, 'cache': {'interface': 'cache'}},
    'peers': {'peers': {'interface': 'peers'}},
}
CONFIG: dict[str, Any] = {
    'options': {
        'port': {'type': 'int', 'default': 8080},
        'greeting': {'type': 'string', 'default': 'hello'},
        'mode': {'type': 'string', 'default': 'ok'},
    }
}
ACTIONS: dict[str, Any] = {'show': {}}

Journal = list[tuple[str, str]]


class Recorder(Component[str]):
    """A component whose behaviour is given by a function of the context; it journals calls."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        behaviour: Callable[[ReconcileContext], str] | None = None,
        status_of: Callable[[ReconcileContext], ops.StatusBase] | None = None,
        leader_only: bool = False,
        relation_endpoints: Iterable[str] = (),
        containers: Iterable[str] = (),
        reads: Iterable[Component[Any]] = (),
        extra_events: Callable[[ops.CharmBase], Iterable[ops.BoundEvent]] | None = None,
    ) -> None:
        super().__init__(
            name,
            leader_only=leader_only,
            relation_endpoints=relation_endpoints,
            containers=containers,
        )
        self.journal = journal
        self.behaviour = behaviour
        self.status_of = status_of
        self.reads = tuple(reads)
        self.extra_events = extra_events

    def reconcile(self, ctx: ReconcileContext) -> str:
        self.journal.append(('reconcile', self.name))
        seen = [ctx.output_of(dependency) for dependency in self.reads]
        if self.behaviour is not None:
            return self.behaviour(ctx)
        return f'{self.name}({",".join(seen)})'

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        self.journal.append(('status', self.name))
        if self.status_of is not None:
            return self.status_of(ctx)
        return ops.ActiveStatus()

    def remove(self, ctx: ReconcileContext) -> None:
        self.journal.append(('remove', self.name))

    def events(self, charm: ops.CharmBase) -> Iterable[ops.BoundEvent]:
        return self.extra_events(charm) if self.extra_events else ()


Builder = Callable[[CharmReconciler, Journal], object]


def make_context(build: Builder, journal: Journal) -> testing.Context[ops.CharmBase]:
    class TestCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            build(self.reconciler, journal)
            framework.observe(self.on.show_action, self._on_show)

        def _on_show(self, event: ops.ActionEvent) -> None:
            event.set_results({'table': self.reconciler.conditions_table()})

    return testing.Context(TestCharm, meta=META, config=CONFIG, actions=ACTIONS)


def reconciled(journal: Journal) -> list[str]:
    return [name for kind, name in journal if kind == 'reconcile']


def blocked(message: str) -> Callable[[ReconcileContext], str]:
    def behaviour(ctx: ReconcileContext) -> str:
        raise BlockedError(message)

    return behaviour


def waiting(message: str) -> Callable[[ReconcileContext], str]:
    def behaviour(ctx: ReconcileContext) -> str:
        raise WaitingError(message)

    return behaviour


# ---- status roll-up ---------------------------------------------------------------------------


def test_all_ready_is_active():
    journal: Journal = []
    ctx = make_context(lambda r, j: (r.add(Recorder('a', j)), r.add(Recorder('b', j))), journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.ActiveStatus()
    assert reconciled(journal) == ['a', 'b']


def test_blocked_component_is_named_and_others_counted():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, behaviour=waiting('waiting for the database')))
        r.add(Recorder('b', j, behaviour=blocked('set the port option')))
        r.add(Recorder('c', j, behaviour=waiting('still starting')))

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.BlockedStatus('[b] set the port option (+2 more)')


def test_priority_follows_ops_blocked_maintenance_waiting():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('w', j, behaviour=waiting('w')))

        def maintenance(ctx: ReconcileContext) -> str:
            raise MaintenanceError('migrating')

        r.add(Recorder('m', j, behaviour=maintenance))

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.MaintenanceStatus('[m] migrating (+1 more)')


def test_ties_go_to_the_component_added_first():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        # 'second' runs first (it is a dependency of nothing, added later, but 'first' depends on
        # a component added after it), yet the tie goes to insertion order, not run order.
        r.add(Recorder('first', j, behaviour=waiting('one')))
        r.add(Recorder('second', j, behaviour=waiting('two')))

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert out.unit_status == testing.WaitingStatus('[first] one (+1 more)')


def test_status_method_can_report_not_ready():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, status_of=lambda ctx: ops.WaitingStatus('check "up" failing (3)')))

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.update_status(), testing.State())
    assert out.unit_status == testing.WaitingStatus('[a] check "up" failing (3)')


def test_status_method_reporting_an_error_status_is_reported_not_crashed():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, status_of=lambda ctx: ops.UnknownStatus()))

    ctx = make_context(build, journal)
    with ctx(ctx.on.update_status(), testing.State()) as manager:
        out = manager.run()
        condition = manager.charm.reconciler.conditions[0]  # type: ignore[attr-defined]
    assert condition.reason == 'Error'
    assert out.unit_status.name == 'blocked'
    assert "'unknown' status" in out.unit_status.message


def test_app_status_is_set_by_the_leader_only():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, behaviour=blocked('needs a relation')))

    ctx = make_context(build, journal)
    leader = ctx.run(ctx.on.config_changed(), testing.State(leader=True))
    follower = ctx.run(ctx.on.config_changed(), testing.State(leader=False))
    assert leader.app_status == testing.BlockedStatus('[a] needs a relation')
    assert follower.app_status == testing.UnknownStatus()
    assert follower.unit_status == testing.BlockedStatus('[a] needs a relation')


def test_no_status_contributed_when_nothing_was_reconciled():
    journal: Journal = []
    ctx = make_context(lambda r, j: r.add(Recorder('a', j, behaviour=blocked('x'))), journal)
    before = testing.State(unit_status=testing.WaitingStatus('left by an earlier hook'))
    out = ctx.run(ctx.on.action('show'), before)
    assert reconciled(journal) == []
    assert out.unit_status == testing.WaitingStatus('left by an earlier hook')


# ---- graph: order, dependencies, cycles --------------------------------------------------------


def test_topological_order_with_insertion_order_breaking_ties():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        base = Recorder('base', j)
        r.add(Recorder('needs-base', j), depends_on=[base])  # forward reference
        r.add(Recorder('independent', j))
        r.add(base)

    ctx = make_context(build, journal)
    ctx.run(ctx.on.config_changed(), testing.State())
    assert reconciled(journal) == ['independent', 'base', 'needs-base']


def test_diamond_runs_each_component_once_in_order_and_passes_outputs():
    journal: Journal = []
    outputs: dict[str, str] = {}

    def build(r: CharmReconciler, j: Journal) -> None:
        top = r.add(Recorder('top', j))
        left = r.add(Recorder('left', j, reads=[top]), depends_on=[top])
        right = r.add(Recorder('right', j, reads=[top]), depends_on=[top])

        def bottom_behaviour(ctx: ReconcileContext) -> str:
            outputs['bottom'] = f'{ctx.output_of(left)}+{ctx.output_of(right)}'
            return outputs['bottom']

        r.add(Recorder('bottom', j, behaviour=bottom_behaviour), depends_on=[left, right])

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())
    assert reconciled(journal) == ['top', 'left', 'right', 'bottom']
    assert outputs['bottom'] == 'left(top())+right(top())'
    assert out.unit_status == testing.ActiveStatus()


def test_diamond_with_a_blocked_branch_waits_below_it_and_runs_the_other_branch():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        top = r.add(Recorder('top', j))
        left = r.add(Recorder('left', j, behaviour=blocked('bad input')), depends_on=[top])
        right = r.add(Recorder('right', j), depends_on=[top])
        r.add(Recorder('bottom', j), depends_on=[left, right])

    ctx = make_context(build, journal)
    with ctx(ctx.on.config_changed(), testing.State()) as manager:
        out = manager.run()
        conditions = {c.component: c for c in manager.charm.reconciler.conditions}  # type: ignore[attr-defined]
    assert reconciled(journal) == ['top', 'left', 'right']
    assert conditions['bottom'].reason == 'DependencyNotReady'
    assert conditions['bottom'].message == 'waiting for left'
    assert out.unit_status == testing.BlockedStatus('[left] bad input (+1 more)')


def test_dependency_that_becomes_ready_during_the_hook_unblocks_dependents_at_once():
    journal: Journal = []
    world = {'database-created': False}

    def create_database(ctx: ReconcileContext) -> str:
        world['database-created'] = True
        return 'db'

    def database_status(ctx: ReconcileContext) -> ops.StatusBase:
        if world['database-created']:
            return ops.ActiveStatus()
        return ops.WaitingStatus('creating the database')

    def build(r: CharmReconciler, j: Journal) -> None:
        db = r.add(Recorder('db', j, behaviour=create_database, status_of=database_status))
        r.add(Recorder('app', j, reads=[db]), depends_on=[db])

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.install(), testing.State())
    assert reconciled(journal) == ['db', 'app']
    assert out.unit_status == testing.ActiveStatus()


def test_cycle_is_rejected_with_an_error_naming_it():
    journal: Journal = []
    errors: list[str] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a, b, c = Recorder('a', j), Recorder('b', j), Recorder('c', j)
        r.add(a, depends_on=[c])  # forward references are allowed...
        r.add(c, depends_on=[b])
        try:
            r.add(b, depends_on=[a])  # ...until one closes a loop
        except GraphError as error:
            errors.append(str(error))

    ctx = make_context(build, journal)
    # The rejected component was not added, so the charm fails loudly on its missing dependency.
    with pytest.raises(testing.errors.UncaughtCharmError, match="'c' depends on 'b'"):
        ctx.run(ctx.on.install(), testing.State())
    assert errors == ["dependency cycle: a -> c -> b -> a ('a -> b' reads 'a depends on b')"]


def test_self_dependency_is_a_cycle():
    journal: Journal = []
    errors: list[str] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a = Recorder('a', j)
        try:
            r.add(a, depends_on=[a])
        except GraphError as error:
            errors.append(str(error))

    ctx = make_context(build, journal)
    ctx.run(ctx.on.install(), testing.State())
    assert errors
    assert errors[0].startswith('dependency cycle: a -> a')


def test_duplicate_names_are_rejected():
    journal: Journal = []
    errors: list[str] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j))
        try:
            r.add(Recorder('a', j))
        except GraphError as error:
            errors.append(str(error))

    ctx = make_context(build, journal)
    ctx.run(ctx.on.install(), testing.State())
    assert errors == ["a component named 'a' was already added"]


def test_dependency_never_added_fails_the_hook_with_its_name():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('app', j), depends_on=[Recorder('ghost', j)])

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match="'app' depends on 'ghost'"):
        ctx.run(ctx.on.install(), testing.State())


def test_unknown_endpoint_or_container_is_rejected_at_add():
    journal: Journal = []
    errors: list[str] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        for kwargs in ({'relation_endpoints': ['nope']}, {'containers': ['nope']}):
            try:
                r.add(Recorder('a', j, **kwargs))  # type: ignore[arg-type]
            except ValueError as error:
                errors.append(str(error))

    ctx = make_context(build, journal)
    ctx.run(ctx.on.install(), testing.State())
    assert "relation endpoint 'nope'" in errors[0]
    assert 'declared: cache, db, peers' in errors[0]
    assert "container 'nope'" in errors[1]
    assert 'declared: sidecar, web' in errors[1]


def test_reading_the_output_of_a_non_dependency_is_a_bug_that_fails_the_hook():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a = r.add(Recorder('a', j))
        r.add(Recorder('b', j, reads=[a]))  # no depends_on

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match='add it to depends_on'):
        ctx.run(ctx.on.install(), testing.State())


# ---- failure isolation ------------------------------------------------------------------------


def test_unexpected_exception_fails_the_hook_after_independent_components_ran():
    journal: Journal = []

    def explode(ctx: ReconcileContext) -> str:
        raise RuntimeError('bug in component x')

    def build(r: CharmReconciler, j: Journal) -> None:
        x = r.add(Recorder('x', j, behaviour=explode))
        r.add(Recorder('needs-x', j), depends_on=[x])
        r.add(Recorder('independent', j))

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match='bug in component x'):
        ctx.run(ctx.on.config_changed(), testing.State())
    assert reconciled(journal) == ['x', 'independent']  # independent did its work
    assert ('status', 'independent') in journal


def test_status_errors_never_fail_the_hook():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, behaviour=blocked('bad config')))

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State())  # no exception
    assert out.unit_status == testing.BlockedStatus('[a] bad config')


# ---- config -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WebConfig:
    port: int = 8080
    greeting: str = 'hello'

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f'port must be 1-65535, got {self.port}')


def test_bad_config_blocks_with_the_component_name_and_dependents_wait():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        config = r.add(ConfigComponent(WebConfig))

        def serve(ctx: ReconcileContext) -> str:
            return f'serving on {ctx.output_of(config).port}'

        r.add(Recorder('web', j, behaviour=serve), depends_on=[config])

    ctx = make_context(build, journal)
    bad = ctx.run(ctx.on.config_changed(), testing.State(config={'port': 0}))
    assert bad.unit_status == testing.BlockedStatus(
        '[config] invalid config: port must be 1-65535, got 0 (+1 more)'
    )
    assert reconciled(journal) == []
    good = ctx.run(ctx.on.config_changed(), testing.State(config={'port': 9000}))
    assert good.unit_status == testing.ActiveStatus()
    assert reconciled(journal) == ['web']


def test_bad_config_with_pydantic_names_the_field():
    pydantic = pytest.importorskip('pydantic')

    class Model(pydantic.BaseModel):
        port: int = pydantic.Field(default=8080, ge=1, le=65535)

    journal: Journal = []
    ctx = make_context(lambda r, j: r.add(ConfigComponent(Model)), journal)
    out = ctx.run(ctx.on.config_changed(), testing.State(config={'port': 70000}))
    assert out.unit_status.name == 'blocked'
    assert out.unit_status.message.startswith('[config] invalid config: port: ')
    assert '65535' in out.unit_status.message


# ---- events -----------------------------------------------------------------------------------


def _all_trigger_events(
    ctx: testing.Context[ops.CharmBase],
) -> list[tuple[str, Any, testing.State]]:
    db = testing.Relation('db', remote_app_name='pg')
    peers = testing.PeerRelation('peers')
    web = testing.Container('web', can_connect=True)
    secret = testing.Secret({'k': 'v'})
    check = testing.CheckInfo('up', status=ops.pebble.CheckStatus.DOWN, failures=3)
    layer = ops.pebble.Layer({'checks': {'up': {'override': 'replace', 'exec': {'command': 'x'}}}})
    web_with_check = testing.Container(
        'web', can_connect=True, layers={'l': layer}, check_infos={check}
    )
    notice = testing.Notice('example.com/reload')
    web_with_notice = testing.Container('web', can_connect=True, notices=[notice])
    base = testing.State(relations={db, peers}, containers={web}, secrets={secret})
    return [
        ('install', ctx.on.install(), base),
        ('start', ctx.on.start(), base),
        ('config-changed', ctx.on.config_changed(), base),
        ('upgrade-charm', ctx.on.upgrade_charm(), base),
        ('leader-elected', ctx.on.leader_elected(), dataclasses.replace(base, leader=True)),
        ('update-status', ctx.on.update_status(), base),
        ('secret-changed', ctx.on.secret_changed(secret), base),
        ('db-relation-created', ctx.on.relation_created(db), base),
        ('db-relation-joined', ctx.on.relation_joined(db, remote_unit=0), base),
        ('db-relation-changed', ctx.on.relation_changed(db, remote_unit=0), base),
        (
            'db-relation-departed',
            ctx.on.relation_departed(db, remote_unit=0, departing_unit=0),
            base,
        ),
        ('db-relation-broken', ctx.on.relation_broken(db), base),
        ('peers-relation-changed', ctx.on.relation_changed(peers, remote_unit=1), base),
        ('web-pebble-ready', ctx.on.pebble_ready(web), base),
        (
            'web-pebble-check-failed',
            ctx.on.pebble_check_failed(web_with_check, check),
            dataclasses.replace(base, containers={web_with_check}),
        ),
        (
            'web-pebble-check-recovered',
            ctx.on.pebble_check_recovered(web_with_check, check),
            dataclasses.replace(base, containers={web_with_check}),
        ),
        (
            'web-pebble-custom-notice',
            ctx.on.pebble_custom_notice(web_with_notice, notice),
            dataclasses.replace(base, containers={web_with_notice}),
        ),
    ]


def test_every_trigger_event_reconciles_exactly_once_even_when_declared_twice():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        # Two components declaring the same endpoints and containers: observed once.
        r.add(Recorder('a', j, relation_endpoints=['db', 'peers'], containers=['web']))
        r.add(
            Recorder(
                'b',
                j,
                relation_endpoints=['db'],
                containers=['web'],
                extra_events=lambda charm: [charm.on.config_changed],
            )
        )

    ctx = make_context(build, journal)
    for label, event, state in _all_trigger_events(ctx):
        journal.clear()
        ctx.run(event, state)
        assert reconciled(journal) == ['a', 'b'], label


def test_events_of_undeclared_endpoints_do_not_reconcile():
    journal: Journal = []
    ctx = make_context(lambda r, j: r.add(Recorder('a', j, relation_endpoints=['db'])), journal)
    cache = testing.Relation('cache')
    ctx.run(ctx.on.relation_changed(cache, remote_unit=0), testing.State(relations={cache}))
    assert reconciled(journal) == []


class Announcer(ops.Object):
    """A relation-library stand-in that emits a custom event from its own relation handler."""

    class _Events(ops.ObjectEvents):
        announced = ops.EventSource(ops.EventBase)

    on = _Events()

    def __init__(self, charm: ops.CharmBase) -> None:
        super().__init__(charm, 'announcer')
        self.framework.observe(charm.on['db'].relation_changed, self._on_changed)

    def _on_changed(self, event: ops.RelationChangedEvent) -> None:
        self.on.announced.emit()


@pytest.mark.parametrize('library_first', [True, False])
def test_custom_event_during_a_relation_hook_still_reconciles_once(library_first: bool):
    journal: Journal = []

    class TestCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            if library_first:
                self.announcer = Announcer(self)
            self.reconciler = CharmReconciler(self)
            if not library_first:
                self.announcer = Announcer(self)
            self.reconciler.add(
                Recorder(
                    'a',
                    journal,
                    relation_endpoints=['db'],
                    extra_events=lambda charm: [self.announcer.on.announced],
                )
            )

    ctx = testing.Context(TestCharm, meta=META, config=CONFIG)
    db = testing.Relation('db')
    ctx.run(ctx.on.relation_changed(db, remote_unit=0), testing.State(relations={db}))
    assert reconciled(journal) == ['a']


def test_each_status_is_computed_once_per_hook():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        previous: list[Component[Any]] = []
        for index in range(20):
            # Each component depends on every earlier one: chisme's worst case.
            previous.append(r.add(Recorder(f'c{index}', j), depends_on=list(previous)))

    ctx = make_context(build, journal)
    ctx.run(ctx.on.config_changed(), testing.State())
    status_calls = [name for kind, name in journal if kind == 'status']
    assert len(status_calls) == 20
    assert len(set(status_calls)) == 20


# ---- leadership -------------------------------------------------------------------------------


def test_non_leader_runs_per_unit_components_and_skips_leader_only_ones():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        shared = r.add(
            Recorder('cluster-objects', j, leader_only=True, behaviour=blocked('needs juju trust'))
        )
        r.add(Recorder('workload', j), depends_on=[shared])

    ctx = make_context(build, journal)
    follower = ctx.run(ctx.on.config_changed(), testing.State(leader=False))
    assert reconciled(journal) == ['workload']
    assert follower.unit_status == testing.ActiveStatus()
    journal.clear()
    leader = ctx.run(ctx.on.config_changed(), testing.State(leader=True))
    assert reconciled(journal) == ['cluster-objects']
    assert leader.unit_status == testing.BlockedStatus(
        '[cluster-objects] needs juju trust (+1 more)'
    )


def test_remove_runs_in_reverse_dependency_order_and_leader_only_only_on_the_leader():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a = r.add(Recorder('a', j, leader_only=True))
        b = r.add(Recorder('b', j), depends_on=[a])
        r.add(Recorder('c', j), depends_on=[b])
        r.add(Recorder('d', j))

    ctx = make_context(build, journal)
    # The application is going away (no planned units): the leader cleans up everything.
    ctx.run(ctx.on.remove(), testing.State(leader=True, planned_units=0))
    assert [name for kind, name in journal if kind == 'remove'] == ['d', 'c', 'b', 'a']
    assert reconciled(journal) == []
    journal.clear()
    ctx.run(ctx.on.remove(), testing.State(leader=False, planned_units=0))
    assert [name for kind, name in journal if kind == 'remove'] == ['d', 'c', 'b']


def test_removing_the_leader_of_a_running_application_keeps_the_shared_objects():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('cluster-objects', j, leader_only=True))
        r.add(Recorder('workload', j))

    ctx = make_context(build, journal)
    # `juju remove-unit app/0` on the leader while two more units keep running.
    ctx.run(ctx.on.remove(), testing.State(leader=True, planned_units=2))
    assert [name for kind, name in journal if kind == 'remove'] == ['workload']


def test_a_failing_cleanup_does_not_stop_the_others_and_fails_the_hook():
    journal: Journal = []

    class Fragile(Recorder):
        def remove(self, ctx: ReconcileContext) -> None:
            super().remove(ctx)
            raise RuntimeError('cleanup bug')

    def build(r: CharmReconciler, j: Journal) -> None:
        a = r.add(Recorder('a', j))
        r.add(Fragile('b', j), depends_on=[a])

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match='cleanup bug'):
        ctx.run(ctx.on.remove(), testing.State(leader=True, planned_units=0))
    assert [name for kind, name in journal if kind == 'remove'] == ['b', 'a']


# ---- conditions and state ---------------------------------------------------------------------


def test_conditions_are_readable_printable_and_kept_for_later_hooks():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a = r.add(Recorder('a', j))
        r.add(Recorder('b', j, behaviour=waiting('for the database')), depends_on=[a])
        r.add(Recorder('c', j), depends_on=[r.components[1]])

    ctx = make_context(build, journal)
    with ctx(ctx.on.config_changed(), testing.State()) as manager:
        state = manager.run()
        conditions: list[Condition] = manager.charm.reconciler.conditions  # type: ignore[attr-defined]
    assert [(c.component, c.ready, c.reason, c.status) for c in conditions] == [
        ('a', True, 'Ready', 'active'),
        ('b', False, 'Waiting', 'waiting'),
        ('c', False, 'DependencyNotReady', 'waiting'),
    ]
    assert len(conditions[0].inputs_hash) == 12
    assert conditions[2].message == 'waiting for b'
    # An action in a later hook reads the stored conditions: nothing is re-run.
    journal.clear()
    ctx.run(ctx.on.action('show'), state)
    table = ctx.action_results['table']  # type: ignore[index]
    assert reconciled(journal) == []
    assert table.splitlines()[0].split() == [
        'COMPONENT',
        'READY',
        'STATUS',
        'REASON',
        'INPUTS',
        'MESSAGE',
    ]
    assert 'c          no     waiting  DependencyNotReady  -             waiting for b' in table


def test_inputs_hash_moves_with_the_inputs_and_only_with_them():
    journal: Journal = []

    class Configured(Recorder):
        def inputs(self, ctx: ReconcileContext) -> object:
            return {'greeting': ctx.charm.config['greeting']}

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Configured('a', j))

    ctx = make_context(build, journal)

    def hash_for(config: dict[str, Any]) -> str:
        with ctx(ctx.on.config_changed(), testing.State(config=config)) as manager:
            manager.run()
            return manager.charm.reconciler.conditions[0].inputs_hash  # type: ignore[attr-defined]

    assert hash_for({'greeting': 'hi'}) == hash_for({'greeting': 'hi', 'port': 1})
    assert hash_for({'greeting': 'hi'}) != hash_for({'greeting': 'hello'})


def test_component_state_persists_across_hooks_and_is_private_to_the_component():
    journal: Journal = []
    runs: list[int] = []

    def count_runs(ctx: ReconcileContext) -> str:
        count = ctx.state.get('runs', 0) + 1
        ctx.state.set('runs', count)
        runs.append(count)
        return str(count)

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(Recorder('a', j, behaviour=count_runs))
        r.add(Recorder('b', j, behaviour=lambda ctx: str(ctx.state.get('runs', 'none'))))

    ctx = make_context(build, journal)
    state = ctx.run(ctx.on.install(), testing.State())
    state = ctx.run(ctx.on.config_changed(), state)
    assert runs == [1, 2]


def test_graph_dot_draws_every_edge():
    journal: Journal = []
    dots: list[str] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        a = r.add(Recorder('a', j))
        r.add(Recorder('b', j), depends_on=[a])
        dots.append(r.graph_dot())

    ctx = make_context(build, journal)
    ctx.run(ctx.on.install(), testing.State())
    assert '"a" -> "b";' in dots[0]
    assert dots[0].startswith('digraph reconciler {')


def test_invalid_component_names_are_rejected():
    with pytest.raises(ValueError, match='invalid component name'):
        Recorder('has space', [])
    with pytest.raises(ValueError, match='invalid component name'):
        Recorder('', [])


def test_a_failing_inputs_summary_is_a_bug_of_that_component_only():
    journal: Journal = []

    class BadInputs(Recorder):
        def inputs(self, ctx: ReconcileContext) -> object:
            return {('tuple', 'key'): 1}  # not JSON-able

    def build(r: CharmReconciler, j: Journal) -> None:
        r.add(BadInputs('bad', j))
        r.add(Recorder('independent', j))

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match='keys must be'):
        ctx.run(ctx.on.config_changed(), testing.State())
    assert reconciled(journal) == ['bad', 'independent']


def test_output_of_a_leader_only_dependency_on_a_non_leader():
    journal: Journal = []
    seen: list[object] = []

    def build(r: CharmReconciler, j: Journal) -> None:
        shared = r.add(Recorder('shared', j, leader_only=True))
        r.add(
            Recorder(
                'reads-with-default',
                j,
                behaviour=lambda ctx: str(seen.append(ctx.output_of(shared, None))),
            ),
            depends_on=[shared],
        )

    ctx = make_context(build, journal)
    out = ctx.run(ctx.on.config_changed(), testing.State(leader=False))
    assert seen == [None]
    assert out.unit_status == testing.ActiveStatus()
    seen.clear()
    ctx.run(ctx.on.config_changed(), testing.State(leader=True))
    assert seen == ['shared()']


def test_output_of_a_leader_only_dependency_without_default_names_the_fix():
    journal: Journal = []

    def build(r: CharmReconciler, j: Journal) -> None:
        shared = r.add(Recorder('shared', j, leader_only=True))
        r.add(Recorder('reads', j, reads=[shared]), depends_on=[shared])

    ctx = make_context(build, journal)
    with pytest.raises(testing.errors.UncaughtCharmError, match='pass a default to output_of'):
        ctx.run(ctx.on.config_changed(), testing.State(leader=False))


def test_a_string_where_a_list_of_names_belongs_is_rejected():
    with pytest.raises(TypeError, match=r"write \['backend'\]"):
        Recorder('a', [], relation_endpoints='backend')
    with pytest.raises(TypeError, match=r"write \['web'\]"):
        Recorder('a', [], containers='web')
