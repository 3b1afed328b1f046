# Copyright 2026 reconcile-libs contributors
# SPDX-License-Identifier: Apache-2.0
"""One holistic reconcile loop for a whole charm: components, a dependency graph, one status.

A charm built with this library is a short declaration of *components*. Each component is a
named piece of charm logic that makes one part of the world match what the charm wants (a Pebble
service, a relation's data, a Kubernetes object) and says whether that part is ready. The
`CharmReconciler` runs every component on every relevant event, in dependency order, and rolls
their results up into the unit and application status through ops' collect-status events.

The contract is the one Kubernetes controllers follow: *level-based* (each hook recomputes the
desired state from the world; nothing depends on which event arrived or in which order),
*idempotent* (running twice changes nothing the second time), and *results, not side effects*
(each component's outcome is a small record, a `Condition`, that the charm can read and show).

## Quick start

```python
import ops
from charms.reconcile_libs.v0.reconciler import (
    BlockedError, CharmReconciler, Component, ReconcileContext,
)

class Greeting(Component[str]):
    def __init__(self) -> None:
        super().__init__('greeting')

    def reconcile(self, ctx: ReconcileContext) -> str:
        name = str(ctx.charm.config.get('name', ''))
        if not name:
            raise BlockedError("set the 'name' config option")
        return f'hello, {name}'

class MyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.reconciler.add(Greeting())
```

With `name` unset the unit shows `blocked: [greeting] set the 'name' config option`; once it is
set, `active`. The charm observes no events itself: the reconciler does.

## A complete example

```python
import dataclasses

import ops
from charms.reconcile_libs.v0.reconciler import (
    BlockedError, CharmReconciler, Component, ConfigComponent, ReconcileContext, WaitingError,
)

@dataclasses.dataclass(frozen=True)
class WebConfig:
    port: int = 8080
    greeting: str = 'hello'

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f'port must be 1-65535, got {self.port}')

class WebServer(Component[str]):
    '''Runs the web server in the `web` container; outputs its URL.'''

    def __init__(self, config: ConfigComponent[WebConfig]) -> None:
        super().__init__('web', containers=['web'])
        self.config = config

    def reconcile(self, ctx: ReconcileContext) -> str:
        config = ctx.output_of(self.config)          # typed: WebConfig
        container = ctx.charm.unit.get_container('web')
        if not container.can_connect():
            raise WaitingError('waiting for the web container')
        layer = {'services': {'web': {
            'override': 'replace', 'startup': 'enabled',
            'command': f'web --port {config.port} --greeting {config.greeting}'}}}
        container.add_layer('web', layer, combine=True)
        container.replan()     # restarts only what changed (PebbleWorkload skips even this)
        return f'http://{ctx.charm.app.name}:{config.port}'

class Announcer(Component[None]):
    '''Publishes the URL to the `site` relation; leader-only (it writes app data).'''

    def __init__(self, web: WebServer) -> None:
        super().__init__('announce', leader_only=True, relation_endpoints=['site'])
        self.web = web

    def reconcile(self, ctx: ReconcileContext) -> None:
        url = ctx.output_of(self.web)
        for relation in ctx.charm.model.relations['site']:
            if relation.data[ctx.charm.app].get('url') != url:   # compare before write
                relation.data[ctx.charm.app]['url'] = url

class WebCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        config = self.reconciler.add(ConfigComponent(WebConfig))
        web = self.reconciler.add(WebServer(config), depends_on=[config])
        self.reconciler.add(Announcer(web), depends_on=[web])
        framework.observe(self.on.show_conditions_action, self._on_show_conditions)

    def _on_show_conditions(self, event: ops.ActionEvent) -> None:
        event.set_results({'conditions': self.reconciler.conditions_table()})
```

## Components

Subclass `Component[OutputT]` and implement `reconcile`. Everything else is optional:

- `reconcile(ctx) -> OutputT` runs on every trigger, once. It makes the world match the desired
  state: idempotent, compare-before-write. It raises `BlockedError`, `WaitingError` or
  `MaintenanceError` when not ready. Its return value is the component's *output*.
- `status(ctx) -> StatusBase` runs once per hook, right after a `reconcile` that returned: a cheap
  readiness report (Pebble checks, say). Default: active. It may raise the same errors.
- `remove(ctx)` runs on the `remove` hook, in reverse dependency order. Leader-only components
  clean up only on the leader, and only when the application is going away (no planned units
  left: `juju remove-application`, or scaling to zero); removing the leader unit of an
  application that keeps running leaves the shared objects to the next leader.
- `events(charm)` is read at `add()`: extra events that should trigger a reconcile (a relation
  library's custom events, say).
- `inputs(ctx) -> object` runs after a successful `reconcile`: a JSON-able summary of the desired
  state, digested into `Condition.inputs_hash`.

Constructor arguments declare what the component touches: `relation_endpoints` (every relation
event of those endpoints triggers a reconcile), `containers` (every Pebble event of those
containers does), and `leader_only` (the component is skipped on non-leader units, which still run
every other component).

## Dependencies and outputs

`add(component, depends_on=[...])` builds a directed acyclic graph; it returns the component, so
the result can be passed straight to later `depends_on` lists and constructors. A dependency may be
added after its dependent (a forward reference); a cycle raises `GraphError` naming it
(`dependency cycle: a -> b -> a`), and a dependency that is never added raises `GraphError` at the
first reconcile.

Per hook, components run in topological order, insertion order breaking ties. A component runs
only when all its dependencies are ready *in this same hook*, so a dependency that becomes ready
during the hook unblocks its dependents at once. A component whose dependency is not ready is not
run and reports `waiting for <dependency>`. Dependents read a dependency's output with
`ctx.output_of(dependency)`, which is typed and only allowed for declared dependencies.

A leader-only component orders its dependents on the leader; on the other units it does not run
and counts as satisfied, so its dependents still run there, without its output:
`ctx.output_of(dependency)` raises `LookupError` on those units, and
`ctx.output_of(dependency, None)` returns the default instead.

## Errors

| raised by `reconcile` or `status` | condition | unit status |
|---|---|---|
| nothing, and `status` is active | ready | active |
| `BlockedError('msg')` | not ready | `blocked: [name] msg` |
| `WaitingError('msg')` | not ready | `waiting: [name] msg` |
| `MaintenanceError('msg')` | not ready | `maintenance: [name] msg` |
| any other exception | `Error` | the hook fails (see below) |

An unexpected exception is a bug, and Juju must see it so that the hook is retried. The reconciler
logs it with its traceback, lets every component that does not depend on the failed one run, and
then re-raises the first such exception at the end of the hook.

## Events

The reconciler observes, once each, and runs one reconcile per dispatched event: `install`,
`start`, `config-changed`, `upgrade-charm`, `leader-elected`, `update-status`, `secret-changed`;
`relation-created/joined/changed/departed/broken` of every endpoint a component declares;
`pebble-ready`, `pebble-custom-notice`, `pebble-check-failed` and `pebble-check-recovered` of every
container a component declares; and every event a component returns from `events()`. When several
of these fire in one dispatch (a library's custom event during a relation hook, say), the reconcile
runs once: components read the world when they run, so the order does not matter. `remove` runs
`Component.remove` instead. The charm keeps its own handlers for actions, `stop` and secret
rotation. `reconcile()` can also be called by hand, for example from an action.

## Status

The library never assigns a status. It contributes one status to `collect-unit-status` (and, on the
leader, the same to `collect-app-status`), chosen among the components that are not ready with ops'
priority (blocked > maintenance > waiting) and, on a tie, the component added first. The message is
prefixed with the component's name and says how many others are not ready:
`blocked: [config] port must be 1-65535, got 0 (+2 more)`. When every component is ready the status
is active. In a hook where nothing was reconciled (an action, say) it contributes nothing, so the
last status stands.

## Conditions

Each component's last result is a `Condition(component, ready, reason, message, inputs_hash,
status)`. `reconciler.conditions` holds this hook's results, or the last hook's when nothing ran in
this one (they are kept in unit-local stored state). `conditions_table()` renders them for a debug
action; `graph_dot()` draws the graph in Graphviz's DOT language, coloured by readiness.
Reasons: `Ready`, `Blocked`, `Waiting`, `Maintenance`, `DependencyNotReady`, `Error`, `LeaderOnly`.
A condition's change (not every hook) is logged.

## Unit-local state

`ctx.state` is a small persistent key/value store private to the component (JSON-able values,
written only when they change), for things like "the inputs this migration last ran with". It is
unit-local: a new leader does not see the old leader's values.

## Testing

Use `ops.testing` (Scenario): run an event and assert on `state_out.unit_status`; every component's
result is in `charm.reconciler.conditions` inside `with ctx(event, state) as mgr`.

The deprecated `ops.testing.Harness` never ends a dispatch (it does not commit the framework), so
under Harness only the first event reconciles; call `harness.charm.reconciler.reconcile()` after
each event there, or better, use `ops.testing.Context`.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar, cast, overload

import ops

# The unique Charmhub library identifier, never change it
LIBID = '734bb47c6bed496cb9d8e4de0c842f0a'

# Increment this major API version when introducing breaking changes
LIBAPI = 0

# Increment this PATCH version before using `charmcraft publish-lib` or reset
# to 0 if you are raising the major API version
LIBPATCH = 1

__all__ = [
    'BlockedError',
    'CharmReconciler',
    'Component',
    'ComponentState',
    'Condition',
    'ConfigComponent',
    'GraphError',
    'MaintenanceError',
    'Reason',
    'ReconcileContext',
    'StatusError',
    'WaitingError',
]

logger = logging.getLogger(__name__)

OutputT = TypeVar('OutputT')
_T = TypeVar('_T')
_ComponentT = TypeVar('_ComponentT', bound='Component[Any]')
_D = TypeVar('_D')
_NO_DEFAULT: Any = object()


# --------------------------------------------------------------------------------------------
# Public API: errors
# --------------------------------------------------------------------------------------------


class StatusError(Exception):
    """A component is not ready, for a reason that the operator or time can fix.

    Raise a subclass from `Component.reconcile` or `Component.status`; the message becomes the
    status message, prefixed with the component's name.
    """

    status_name = 'blocked'

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def status(self) -> ops.StatusBase:
        """The ops status this error stands for."""
        return ops.StatusBase.from_name(self.status_name, self.message)


class BlockedError(StatusError):
    """The component needs a human: bad config, a missing relation, missing trust."""

    status_name = 'blocked'


class WaitingError(StatusError):
    """The component waits for something outside the unit: a workload, a remote app, a peer."""

    status_name = 'waiting'


class MaintenanceError(StatusError):
    """The component is doing work that will finish by itself (a migration, a long restart)."""

    status_name = 'maintenance'


class GraphError(ValueError):
    """The component graph is invalid: a cycle, a duplicate name or an unknown dependency."""


# --------------------------------------------------------------------------------------------
# Public API: conditions
# --------------------------------------------------------------------------------------------


class Reason:
    """Why a component is, or is not, ready: the values of `Condition.reason`."""

    READY = 'Ready'
    BLOCKED = 'Blocked'
    WAITING = 'Waiting'
    MAINTENANCE = 'Maintenance'
    DEPENDENCY_NOT_READY = 'DependencyNotReady'
    ERROR = 'Error'
    LEADER_ONLY = 'LeaderOnly'


class Condition(NamedTuple):
    """The result of one component in one hook (an immutable record).

    Attributes:
        component: the component's name.
        ready: true when the component did its work and reports active.
        reason: one of the `Reason` values.
        message: the status message, without the `[component]` prefix.
        inputs_hash: digest of the component's inputs and its dependencies' outputs at its last
            successful reconcile in this hook; empty when it did not reconcile successfully.
        status: the status name: 'active', 'blocked', 'waiting' or 'maintenance'.
    """

    component: str
    ready: bool
    reason: str
    message: str
    inputs_hash: str
    status: str

    def to_status(self) -> ops.StatusBase:
        """The condition as an ops status, message prefixed with the component's name."""
        if self.ready and not self.message:
            return ops.ActiveStatus()
        return ops.StatusBase.from_name(self.status, f'[{self.component}] {self.message}')


# --------------------------------------------------------------------------------------------
# Public API: components
# --------------------------------------------------------------------------------------------


class ReconcileContext:
    """What a component sees while it runs: the charm, the trigger, its dependencies' outputs.

    Attributes:
        charm: the charm instance.
        event: the event that triggered this reconcile; None when `reconcile()` was called by hand.
        is_leader: whether this unit is the leader, read once per hook.
        state: the component's unit-local persistent key/value store.
    """

    def __init__(
        self,
        *,
        charm: ops.CharmBase,
        event: ops.EventBase | None,
        is_leader: bool,
        component: Component[Any],
        dependencies: Sequence[Component[Any]],
        outputs: Mapping[str, object],
        state: ComponentState,
    ) -> None:
        self.charm = charm
        self.event = event
        self.is_leader = is_leader
        self.state = state
        self._component = component
        self._dependency_names = {dependency.name for dependency in dependencies}
        self._outputs = outputs

    @overload
    def output_of(self, dependency: Component[_T]) -> _T: ...

    @overload
    def output_of(self, dependency: Component[_T], default: _D) -> _T | _D: ...

    def output_of(self, dependency: Component[Any], default: object = _NO_DEFAULT) -> object:
        """The output that `dependency` returned from `reconcile` in this hook.

        A leader-only dependency produces no output on other units (it does not run there), yet
        its dependents do run there. Pass `default` to read it anyway: the default is returned
        on non-leaders.

        Raises:
            LookupError: `dependency` is not a declared dependency of the running component, or
                it produced no output on this unit and no `default` was given.
        """
        name = dependency.name
        if name not in self._dependency_names:
            raise LookupError(
                f'component {self._component.name!r} reads the output of {name!r}, '
                f'which is not among its dependencies: add it to depends_on'
            )
        if name not in self._outputs:
            if default is not _NO_DEFAULT:
                return default
            raise LookupError(
                f'component {name!r} produced no output on this unit: it is leader-only and '
                f'this unit is not the leader; make {self._component.name!r} leader-only too, '
                f'or pass a default to output_of()'
            )
        return self._outputs[name]


class Component(abc.ABC, Generic[OutputT]):
    """A named piece of charm logic that makes one part of the world match the charm's intent.

    Args:
        name: unique within the reconciler; shown as the `[name]` status prefix. Letters, digits,
            '.', '_' and '-', starting with a letter or digit.
        leader_only: run only on the leader unit (for example, writing application data or
            creating cluster-wide objects). Non-leaders skip it and still run the others.
        relation_endpoints: endpoints whose relation events should trigger a reconcile.
        containers: containers whose Pebble events should trigger a reconcile.
    """

    def __init__(
        self,
        name: str,
        *,
        leader_only: bool = False,
        relation_endpoints: Iterable[str] = (),
        containers: Iterable[str] = (),
    ) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(
                f'invalid component name {name!r}: use letters, digits, ".", "_" and "-", '
                f'starting with a letter or digit'
            )
        for argument, value in (
            ('relation_endpoints', relation_endpoints),
            ('containers', containers),
        ):
            if isinstance(value, str):
                raise TypeError(
                    f'{argument} takes a list of names, not the string {value!r}: '
                    f'write [{value!r}]'
                )
        self.name = name
        self.leader_only = leader_only
        self.relation_endpoints: tuple[str, ...] = tuple(relation_endpoints)
        self.containers: tuple[str, ...] = tuple(containers)

    @abc.abstractmethod
    def reconcile(self, ctx: ReconcileContext) -> OutputT:
        """Make the world match the desired state; return this component's output.

        Raise `BlockedError`, `WaitingError` or `MaintenanceError` when not ready.
        """

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        """Report readiness after a successful reconcile; called at most once per hook."""
        return ops.ActiveStatus()

    def remove(self, ctx: ReconcileContext) -> None:
        """Clean up on the `remove` hook. The default does nothing."""

    def events(self, charm: ops.CharmBase) -> Iterable[ops.BoundEvent]:
        """Extra events that should trigger a reconcile. The default is none."""
        return ()

    def inputs(self, ctx: ReconcileContext) -> object:
        """A JSON-able summary of the desired state, digested into `Condition.inputs_hash`."""
        return None

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.name!r}>'


class ConfigComponent(Component[_T]):
    """Loads the charm config into a typed object; its output feeds the components that need it.

    `config_class` is a dataclass, a pydantic model or any class that takes the options as keyword
    arguments (dashes become underscores) and raises `ValueError` when they are invalid, as with
    `ops.CharmBase.load_config`. Invalid config blocks this component with the validation message,
    and every component that depends on it waits.

    Example:
        ```python
        config = reconciler.add(ConfigComponent(WebConfig))
        web = reconciler.add(WebServer(config), depends_on=[config])
        ```
    """

    def __init__(self, config_class: type[_T], *, name: str = 'config') -> None:
        super().__init__(name)
        self.config_class = config_class

    def reconcile(self, ctx: ReconcileContext) -> _T:
        """Load and validate the config; raise `BlockedError` naming the bad option."""
        try:
            return ctx.charm.load_config(self.config_class)
        except ValueError as error:
            raise BlockedError(f'invalid config: {_describe_validation_error(error)}') from None
        except TypeError as error:
            raise BlockedError(f'invalid config: {error}') from None

    def inputs(self, ctx: ReconcileContext) -> object:
        """The raw config values."""
        return dict(ctx.charm.config)


# --------------------------------------------------------------------------------------------
# Public API: the reconciler
# --------------------------------------------------------------------------------------------


class CharmReconciler(ops.Object):
    """Runs a graph of components on every relevant event and rolls up their status.

    Create it in the charm's `__init__` and `add` components; it observes the events itself.
    Keep a reference on the charm (`self.reconciler = CharmReconciler(self)`): ops holds its
    observers weakly, and an unreferenced reconciler would silently observe nothing.

    Args:
        charm: the charm.
        key: the ops handle key; change it only to have two reconcilers in one charm.
    """

    _stored = ops.StoredState()

    def __init__(self, charm: ops.CharmBase, *, key: str = 'reconciler') -> None:
        super().__init__(charm, key)
        self.charm = charm
        self._stored.set_default(conditions='[]', component_state='{}')
        self._components: dict[str, Component[Any]] = {}
        self._dependencies: dict[str, tuple[str, ...]] = {}
        self._order: list[Component[Any]] | None = None
        self._observed: set[tuple[str, str]] = set()
        self._conditions: list[Condition] | None = None
        self._reconciled_this_dispatch = False
        self._running = False
        for bound_event in (
            charm.on.install,
            charm.on.start,
            charm.on.config_changed,
            charm.on.upgrade_charm,
            charm.on.leader_elected,
            charm.on.update_status,
            charm.on.secret_changed,
        ):
            self._observe_trigger(bound_event)
        self.framework.observe(charm.on.remove, self._on_remove)
        self.framework.observe(charm.on.collect_unit_status, self._on_collect_status)
        self.framework.observe(charm.on.collect_app_status, self._on_collect_status)
        self.framework.observe(self.framework.on.commit, self._on_commit)

    def add(
        self, component: _ComponentT, depends_on: Iterable[Component[Any]] = ()
    ) -> _ComponentT:
        """Add a component that runs after every component in `depends_on` is ready.

        Returns:
            The component itself, to pass on to later `depends_on` lists and constructors.

        Raises:
            GraphError: a duplicate name, or the new edges close a cycle (the message names it).
            ValueError: the component names an endpoint or container the charm does not declare.
        """
        if component.name in self._components:
            raise GraphError(f'a component named {component.name!r} was already added')
        dependencies = tuple(dependency.name for dependency in depends_on)
        self._check_endpoints_and_containers(component)
        self._components[component.name] = component
        self._dependencies[component.name] = dependencies
        cycle = _find_cycle(self._dependencies)
        if cycle:
            del self._components[component.name]
            del self._dependencies[component.name]
            raise GraphError(
                'dependency cycle: ' + ' -> '.join(cycle) + " ('a -> b' reads 'a depends on b')"
            )
        self._order = None
        self._observe_component_events(component)
        return component

    @property
    def components(self) -> list[Component[Any]]:
        """The components, in insertion order."""
        return list(self._components.values())

    @property
    def conditions(self) -> list[Condition]:
        """Each component's result, in insertion order: this hook's, else the last stored ones."""
        if self._conditions is not None:
            return list(self._conditions)
        return [Condition(**record) for record in json.loads(self._stored.conditions)]

    def reconcile(self, event: ops.EventBase | None = None) -> list[Condition]:
        """Run every component once, in dependency order, and return their conditions.

        The reconciler calls this itself on every trigger event; call it by hand only outside of
        those (from an action, say).

        Raises:
            GraphError: a dependency was never added.
            Exception: the first unexpected exception of a component, re-raised after every
                component that does not depend on it has run.
        """
        if self._running:
            raise RuntimeError('reconcile() called from inside a component')
        self._running = True
        try:
            return self._reconcile_all(event)
        finally:
            self._running = False
            self._reconciled_this_dispatch = True

    def conditions_table(self) -> str:
        """The conditions as a plain-text table, one component a line."""
        rows = [('COMPONENT', 'READY', 'STATUS', 'REASON', 'INPUTS', 'MESSAGE')]
        rows.extend(
            (
                condition.component,
                'yes' if condition.ready else 'no',
                condition.status,
                condition.reason,
                condition.inputs_hash or '-',
                condition.message,
            )
            for condition in self.conditions
        )
        widths = [max(len(row[column]) for row in rows) for column in range(5)]
        lines = [
            '  '.join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + '  '
            + row[5]
            for row in rows
        ]
        return '\n'.join(line.rstrip() for line in lines)

    def graph_dot(self) -> str:
        """The component graph in Graphviz DOT, nodes coloured by their last condition."""
        colours = {
            'active': 'palegreen',
            'waiting': 'khaki',
            'maintenance': 'lightblue',
            'blocked': 'salmon',
        }
        by_name = {condition.component: condition for condition in self.conditions}
        lines = ['digraph reconciler {', '  rankdir=LR;', '  node [shape=box, style=filled];']
        for name in self._components:
            condition = by_name.get(name)
            colour = colours.get(condition.status, 'white') if condition else 'white'
            label = f'{name}\\n{condition.reason}' if condition else name
            lines.append(f'  "{name}" [label="{label}", fillcolor={colour}];')
        for name, dependencies in self._dependencies.items():
            lines.extend(f'  "{dependency}" -> "{name}";' for dependency in dependencies)
        lines.append('}')
        return '\n'.join(lines)

    # ---- event handlers -----------------------------------------------------------------------

    def _on_trigger(self, event: ops.EventBase) -> None:
        if self._running or self._reconciled_this_dispatch:
            logger.debug('reconcile already ran in this dispatch; %s needs no other', event)
            return
        self.reconcile(event)

    def _on_remove(self, event: ops.RemoveEvent) -> None:
        is_leader = self.charm.unit.is_leader()
        remaining = self.charm.app.planned_units()
        failures: list[tuple[str, Exception]] = []
        for component in reversed(self._ordered_components()):
            if component.leader_only and not is_leader:
                logger.info(
                    '[%s] not removed here: leader-only, and this unit is not the leader',
                    component.name,
                )
                continue
            if component.leader_only and remaining > 0:
                logger.info(
                    '[%s] not removed: %d unit(s) of the application remain, and the next '
                    'leader keeps using what it manages',
                    component.name,
                    remaining,
                )
                continue
            ctx = self._context(component, event, is_leader, outputs={})
            try:
                component.remove(ctx)
            except StatusError as error:
                logger.warning('[%s] cleanup incomplete: %s', component.name, error.message)
            except Exception as error:
                logger.exception('[%s] cleanup failed', component.name)
                failures.append((component.name, error))
        _raise_first(failures)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        # The same roll-up for the unit and, on the leader, for the application.
        if self._conditions is not None:
            event.add_status(_roll_up(self._conditions))

    def _on_commit(self, _: ops.EventBase) -> None:
        self._reconciled_this_dispatch = False

    # ---- internals ----------------------------------------------------------------------------

    def _reconcile_all(self, event: ops.EventBase | None) -> list[Condition]:
        ordered = self._ordered_components()
        is_leader = self.charm.unit.is_leader()
        outputs: dict[str, object] = {}
        results: dict[str, Condition] = {}
        failures: list[tuple[str, Exception]] = []
        for component in ordered:
            condition, error = self._run_component(component, event, is_leader, outputs, results)
            results[component.name] = condition
            if error is not None:
                failures.append((component.name, error))
        conditions = [results[name] for name in self._components]
        self._log_transitions(conditions)
        self._conditions = conditions
        self._store_conditions(conditions)
        _raise_first(failures)
        return list(conditions)

    def _run_component(
        self,
        component: Component[Any],
        event: ops.EventBase | None,
        is_leader: bool,
        outputs: dict[str, object],
        results: Mapping[str, Condition],
    ) -> tuple[Condition, Exception | None]:
        name = component.name
        if component.leader_only and not is_leader:
            return _condition(name, Reason.LEADER_ONLY, 'active', 'runs on the leader only'), None
        waiting_for = [dep for dep in self._dependencies[name] if not results[dep].ready]
        if waiting_for:
            message = 'waiting for ' + ', '.join(waiting_for)
            return _condition(name, Reason.DEPENDENCY_NOT_READY, 'waiting', message), None
        ctx = self._context(component, event, is_leader, outputs)
        try:
            output = component.reconcile(ctx)
            status = component.status(ctx)
            dependency_outputs = {dep: outputs.get(dep) for dep in self._dependencies[name]}
            inputs_hash = _digest(component.inputs(ctx), dependency_outputs)
        except StatusError as error:
            return _condition_from_status(name, error.status), None
        except Exception as error:
            logger.exception('[%s] failed with an unexpected error', name)
            message = f'unexpected {type(error).__name__}: {error}'
            return _condition(name, Reason.ERROR, 'blocked', message), error
        outputs[name] = output
        return _condition_from_status(name, status, inputs_hash), None

    def _context(
        self,
        component: Component[Any],
        event: ops.EventBase | None,
        is_leader: bool,
        outputs: Mapping[str, object],
    ) -> ReconcileContext:
        return ReconcileContext(
            charm=self.charm,
            event=event,
            is_leader=is_leader,
            component=component,
            dependencies=[self._components[dep] for dep in self._dependencies[component.name]],
            outputs=outputs,
            state=ComponentState(self._stored, component.name),
        )

    def _ordered_components(self) -> list[Component[Any]]:
        if self._order is None:
            missing = sorted(
                f'{name!r} depends on {dep!r}'
                for name, dependencies in self._dependencies.items()
                for dep in dependencies
                if dep not in self._components
            )
            if missing:
                raise GraphError('unknown dependencies (never added): ' + '; '.join(missing))
            names = _topological_order(list(self._components), self._dependencies)
            self._order = [self._components[name] for name in names]
        return self._order

    def _observe_trigger(self, bound_event: ops.BoundEvent) -> None:
        key = (bound_event.emitter.handle.path, bound_event.event_kind)
        if key not in self._observed:
            self._observed.add(key)
            self.framework.observe(bound_event, self._on_trigger)

    def _observe_component_events(self, component: Component[Any]) -> None:
        for endpoint in component.relation_endpoints:
            relation_events = self.charm.on[endpoint]
            for bound_event in (
                relation_events.relation_created,
                relation_events.relation_joined,
                relation_events.relation_changed,
                relation_events.relation_departed,
                relation_events.relation_broken,
            ):
                self._observe_trigger(bound_event)
        for container in component.containers:
            container_events = self.charm.on[container]
            for bound_event in (
                container_events.pebble_ready,
                container_events.pebble_custom_notice,
                container_events.pebble_check_failed,
                container_events.pebble_check_recovered,
            ):
                self._observe_trigger(bound_event)
        for bound_event in component.events(self.charm):
            self._observe_trigger(bound_event)

    def _check_endpoints_and_containers(self, component: Component[Any]) -> None:
        meta = self.charm.meta
        for endpoint in component.relation_endpoints:
            if endpoint not in meta.relations:
                known = ', '.join(sorted(meta.relations)) or 'none'
                raise ValueError(
                    f'component {component.name!r} uses relation endpoint {endpoint!r}, which '
                    f'charmcraft.yaml does not declare (declared: {known})'
                )
        for container in component.containers:
            if container not in meta.containers:
                known = ', '.join(sorted(meta.containers)) or 'none'
                raise ValueError(
                    f'component {component.name!r} uses container {container!r}, which '
                    f'charmcraft.yaml does not declare (declared: {known})'
                )

    def _log_transitions(self, conditions: Sequence[Condition]) -> None:
        previous = {condition.component: condition for condition in self.conditions}
        for condition in conditions:
            before = previous.get(condition.component)
            if before is not None and (before.reason, before.message) == (
                condition.reason,
                condition.message,
            ):
                continue
            if condition.ready:
                logger.info('[%s] ready (%s)', condition.component, condition.reason)
            else:
                logger.info(
                    '[%s] %s: %s (%s)',
                    condition.component,
                    condition.status,
                    condition.message,
                    condition.reason,
                )

    def _store_conditions(self, conditions: Sequence[Condition]) -> None:
        encoded = json.dumps(
            [condition._asdict() for condition in conditions], separators=(',', ':')
        )
        if self._stored.conditions != encoded:
            self._stored.conditions = encoded


class ComponentState:
    """A component's unit-local persistent key/value store (`ctx.state`).

    Values must be JSON-able. `set` writes only when the value changed.
    """

    def __init__(self, stored: ops.BoundStoredState, component_name: str) -> None:
        self._stored = stored
        self._name = component_name

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value for `key`, or `default`."""
        return self._load().get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store `value` under `key` (a no-op when it is already stored)."""
        everything: dict[str, dict[str, Any]] = json.loads(self._stored.component_state)
        values = everything.setdefault(self._name, {})
        normalised = json.loads(json.dumps(value))
        if key in values and values[key] == normalised:
            return
        values[key] = normalised
        self._stored.component_state = json.dumps(everything, sort_keys=True)

    def _load(self) -> dict[str, Any]:
        everything: dict[str, dict[str, Any]] = json.loads(self._stored.component_state)
        return everything.get(self._name, {})


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')

# ops' priority for add_status: blocked > maintenance > waiting > active.
_PRIORITY = {'blocked': 4, 'maintenance': 3, 'waiting': 2, 'active': 1}

_REASON_BY_STATUS = {
    'active': Reason.READY,
    'blocked': Reason.BLOCKED,
    'waiting': Reason.WAITING,
    'maintenance': Reason.MAINTENANCE,
}


def _condition(
    name: str, reason: str, status: str, message: str, inputs_hash: str = ''
) -> Condition:
    ready = reason in (Reason.READY, Reason.LEADER_ONLY)
    return Condition(name, ready, reason, message, inputs_hash, status)


def _condition_from_status(name: str, status: ops.StatusBase, inputs_hash: str = '') -> Condition:
    status_name = status.name if status.name in _PRIORITY else 'blocked'
    if status.name not in _PRIORITY:
        message = (
            f'reported a {status.name!r} status, which components cannot use: {status.message}'
        )
        return _condition(name, Reason.ERROR, status_name, message)
    reason = _REASON_BY_STATUS[status_name]
    return _condition(name, reason, status_name, status.message, inputs_hash)


def _roll_up(conditions: Sequence[Condition]) -> ops.StatusBase:
    not_ready = [condition for condition in conditions if not condition.ready]
    if not not_ready:
        return ops.ActiveStatus()
    worst = not_ready[0]
    for condition in not_ready[1:]:
        if _PRIORITY[condition.status] > _PRIORITY[worst.status]:
            worst = condition
    message = f'[{worst.component}] {worst.message}'
    if len(not_ready) > 1:
        message += f' (+{len(not_ready) - 1} more)'
    return ops.StatusBase.from_name(worst.status, message)


def _topological_order(names: list[str], dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; among the components ready to go, the one added first goes first."""
    position = {name: index for index, name in enumerate(names)}
    remaining = {name: len(set(dependencies[name])) for name in names}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for dependency in set(dependencies[name]):
            dependents[dependency].append(name)
    ready = [position[name] for name in names if remaining[name] == 0]
    order: list[str] = []
    while ready:
        first = min(ready)
        ready.remove(first)
        name = names[first]
        order.append(name)
        for dependent in dependents[name]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                ready.append(position[dependent])
    return order


def _find_cycle(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """A dependency cycle as a path whose first and last names are equal, or [] when acyclic."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str]:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done or name not in dependencies:
            return []
        visiting.append(name)
        for dependency in dependencies[name]:
            cycle = visit(dependency)
            if cycle:
                return cycle
        visiting.pop()
        done.add(name)
        return []

    for name in dependencies:
        cycle = visit(name)
        if cycle:
            # Report the cycle in "a depends on b" reading order: dependent -> dependency.
            return cycle
    return []


def _digest(inputs: object, dependency_outputs: Mapping[str, object]) -> str:
    encoded = json.dumps(
        {'inputs': inputs, 'dependencies': dependency_outputs},
        sort_keys=True,
        separators=(',', ':'),
        default=_json_fallback,
    )
    return hashlib.sha256(encoded.encode()).hexdigest()[:12]


def _json_fallback(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(cast('Iterable[object]', value), key=repr)
    model_dump: Callable[[], object] | None = getattr(value, 'model_dump', None)
    if callable(model_dump):
        return model_dump()
    return repr(value)


def _describe_validation_error(error: ValueError) -> str:
    """One line naming the bad fields; pydantic's multi-line message folded to `field: reason`."""
    errors: Callable[[], list[dict[str, Any]]] | None = getattr(error, 'errors', None)
    if callable(errors):
        parts = [
            f'{".".join(str(part) for part in item.get("loc", ())) or "config"}: {item.get("msg")}'
            for item in errors()
        ]
        return '; '.join(parts)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _raise_first(failures: Sequence[tuple[str, Exception]]) -> None:
    if not failures:
        return
    if len(failures) > 1:
        logger.error(
            '%d components failed (%s); re-raising the first',
            len(failures),
            ', '.join(name for name, _ in failures),
        )
    raise failures[0][1]
