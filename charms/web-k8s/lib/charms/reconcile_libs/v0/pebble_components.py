"""Keep a workload container's Pebble services, checks, files and one-shot steps as declared.

This library gives a sidecar charm one reconciler component per workload container,
`PebbleWorkload`. The charm declares *what* the container should run -- services, health checks,
files, one-shot steps -- as plain typed objects computed from config and from other components'
outputs; the component makes Pebble match, on every hook, writing nothing when nothing changed.

It builds on `charms.reconcile_libs.v0.reconciler` (fetch both libs).

## Quick start

```python
import ops
from charms.reconcile_libs.v0.pebble_components import (
    CheckSpec, PebbleWorkload, ServiceSpec, WorkloadSpec,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler, ReconcileContext

class WebCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.reconciler.add(PebbleWorkload('web', container='web', spec=self._web))

    def _web(self, ctx: ReconcileContext) -> WorkloadSpec:
        port = int(self.config['port'])
        return WorkloadSpec(
            services=[ServiceSpec('web', f'python3 -m http.server {port}')],
            checks=[CheckSpec.http('web-up', f'http://localhost:{port}/')],
        )
```

## A complete example

```python
import ops
from charms.reconcile_libs.v0.pebble_components import (
    CheckSpec, ContainerFile, ExecStep, PebbleWorkload, ServiceSpec, WorkloadSpec, WorkloadState,
)
from charms.reconcile_libs.v0.reconciler import BlockedError, CharmReconciler, ReconcileContext

APP_VERSION = '2.4.1'  # the workload version this charm release runs (its OCI image)

NGINX_CONF = '''
server {
    listen $port;
    location / { proxy_pass http://$upstream; }
}
'''

class ProxyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.app_workload = self.reconciler.add(
            PebbleWorkload('app', container='app', spec=self._app_spec)
        )
        self.proxy = self.reconciler.add(
            PebbleWorkload('proxy', container='proxy', spec=self._proxy_spec),
            depends_on=[self.app_workload],
        )

    def _app_spec(self, ctx: ReconcileContext) -> WorkloadSpec:
        log_level = str(self.config['log-level'])
        if log_level not in ('debug', 'info'):
            raise BlockedError(f'log-level must be debug or info, not {log_level!r}')
        return WorkloadSpec(
            services=[
                ServiceSpec(
                    'app',
                    'app serve --config /etc/app/app.toml',
                    environment={'LOG_LEVEL': log_level},
                    files=['/etc/app/app.toml'],          # a changed file restarts 'app'
                ),
            ],
            files=[
                ContainerFile('/etc/app/app.toml', content='port = 8080', permissions=0o640,
                              user='app', group='app'),
            ],
            steps=[
                # Runs once, then again only when `inputs` change (here: the app's version).
                ExecStep('migrate', ['app', 'migrate'], inputs={'version': APP_VERSION}),
            ],
            checks=[CheckSpec.http('app-ready', 'http://localhost:8080/healthz')],
        )

    def _proxy_spec(self, ctx: ReconcileContext) -> WorkloadSpec:
        app: WorkloadState = ctx.output_of(self.app_workload)
        return WorkloadSpec(
            services=[
                ServiceSpec('nginx', "nginx -g 'daemon off;'",
                            files=['/etc/nginx/conf.d/default.conf'],
                            reload_signal='SIGHUP'),   # a changed file reloads instead
            ],
            files=[
                ContainerFile.from_template(
                    '/etc/nginx/conf.d/default.conf',
                    NGINX_CONF,
                    {'port': self.config['port'], 'upstream': 'localhost:8080'},
                ),
            ],
            checks=[CheckSpec.tcp('nginx-up', int(self.config['port']))],
        )
```

## What a reconcile does

1. Renders every file (`string.Template.substitute`: a missing variable blocks the component
   before anything is written).
2. Pushes each file whose content, permissions or owner differ (it reads the file back to
   compare), and remembers -- persistently, before pushing -- which services declared it.
3. Runs each `ExecStep` whose inputs changed since its last success (`before_services=True`,
   the default), in declaration order.
4. Adds the layer (`override: replace`, `combine=True`) under the label `layer_label`
   (default: the component's name) unless the plan is unchanged since the last successful replan;
   restarts -- or signals with `reload_signal` -- the *running* services whose files changed (a
   service that is not running reads the new file when it next starts, so nothing is kept for
   later); then replans if the plan changed or a `startup: enabled` service needs starting (see
   below). Pebble's replan restarts exactly the services whose definition changed. Last, it stops
   the services and checks it no longer declares (see below).
5. Runs the steps declared with `before_services=False`.
6. Status: reads the services and checks it declared.

A steady-state reconcile only reads: `get_plan`, `get_services`, `list_files` + `pull` per file,
`get_checks` (and `get_checks` for the checks it no longer declares, if any). No push, no
restart, no replan, no exec, no stop.

## Which services a reconcile starts

A `startup: enabled` service is started (by a replan) when Pebble reports it `inactive` or
`error`, or it is missing from the plan. It is left to Pebble, and reported, when:

- it is in `backoff`: it died and Pebble restarts it after its backoff delay (a replan would
  reset the backoff). Status: waiting `service 'x' is not running (backoff)`.
- it *finished*: it is declared `on_success='ignore'` and Pebble reports it `inactive`, which is
  what Pebble does when such a service exits with code 0. It is healthy (no status) and is not
  run again until its definition changes or the container restarts (both make the reconcile
  replan, which runs it again). A non-zero exit
  under `on_failure='ignore'` is Pebble's `error`, and is started again.

Pebble fails the start of a service that exits within its 1 s okay-delay, even with code 0
(`exited quickly with code 0, will ignore`: blocked, retried each hook). A command that finishes
faster belongs in an `ExecStep`, not a service.

## Services and checks you stop declaring

Pebble's layers can only add or replace definitions, never delete them, so a service or check
simply left out of the spec would stay in the plan, running. The component remembers (in its
unit-local state) the names it manages. A name it no longer declares stays in its layer,
redefined from the plan with `startup: disabled`, and is stopped if it runs:
`container.stop(...)` for services (after the replan: Pebble's replan restarts a service whose
definition changed, even to disabled), `container.stop_checks(...)` for checks (Pebble keeps a
running check running when it turns disabled). `WorkloadState.stopped` / `.stopped_checks` name
them. Declare the name again and it is defined and started as before. A name that has left the
plan (a restarted container starts from the image's layers) is forgotten. Stopping checks needs
Pebble's check start/stop API (Juju 3.6.4 and newer; tested with Pebble 1.26 and 1.32); with an
older Pebble the stop fails with a Pebble API error status.

## Events

The component declares its container, so the reconciler reconciles on that container's
`pebble-ready`, `pebble-check-failed`, `pebble-check-recovered` and `pebble-custom-notice` events
(a workload can ask for a reconcile with `pebble notify <domain/key>`), besides the reconciler's
usual triggers (config-changed, update-status, ...).

## Statuses it reports (prefixed `[name]` by the reconciler)

- waiting `waiting for Pebble in container 'web'`: the container is not reachable (yet); the
  reconcile is retried on `pebble-ready`.
- blocked `file /etc/x.conf: template variable $port is not set` (nothing is written).
- blocked `replanning the services failed: Start service "web" (service start attempt: exited
  quickly with code 3, will restart) (last output: <the service's last output>)`: a Pebble change
  failed; the step in progress is named (`restarting 'web' after a file change failed: ...`).
- blocked `step 'migrate' failed with exit code 2: <stderr tail>`.
- blocked `writing /etc/x.conf failed: permission-denied - ...` (a Pebble path error).
- blocked / waiting `Pebble API error 400 while adding layer 'web': ...` (4xx blocked: the
  request itself is wrong; 5xx waiting).
- waiting `timed out while replanning the services (...)`.
- waiting `service 'web' is not running (backoff)`: it died after starting; Pebble restarts it.
  (`inactive` / `error` instead when it stopped and the reconcile's replan could not start it.)
- waiting `check 'web-up' failing (3 failures)`: a Pebble check is down. With several
  problems, the first is named and the rest counted: `(+2 more)`.
- active otherwise.

Each is also logged with its cause. A Pebble error never crashes the hook and never loses a
write: a file whose service restart failed is restarted on the next reconcile.

Remove: the component does nothing on the `remove` hook; the container goes away with the unit.

Several `PebbleWorkload`s may share a container (give each its own services and layer label);
each re-adds its layer when another one changed the plan, which converges in one hook.

## Output for dependents

`reconcile` returns a `WorkloadState`: the container, the services and checks it declares, the
files pushed, the services restarted or signalled, the services and checks stopped because they
are no longer declared, and the steps run in this hook.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, Protocol, cast

import ops
from charms.reconcile_libs.v0.reconciler import (
    BlockedError,
    Component,
    ReconcileContext,
    StatusError,
    WaitingError,
)
from ops import pebble

# The unique Charmhub library identifier, never change it
LIBID = '02a4741f2a9a4923aa646026d27022af'

# Increment this major API version when introducing breaking changes
LIBAPI = 0

# Increment this PATCH version before using `charmcraft publish-lib` or reset
# to 0 if you are raising the major API version
LIBPATCH = 1

__all__ = [
    'CheckSpec',
    'ContainerFile',
    'ExecStep',
    'PebbleWorkload',
    'ServiceSpec',
    'WorkloadSpec',
    'WorkloadState',
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Public API: the desired state of a container
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    """A Pebble service, written to the layer with `override: replace`.

    Attributes:
        name: the service name.
        command: the command line (Pebble splits it shell-style; it is not run by a shell).
        environment: environment variables.
        startup: 'enabled' services are started by the reconcile; 'disabled' ones only defined.
        files: paths of `ContainerFile`s this service reads; when one changes, the service is
            restarted (or sent `reload_signal`) -- Pebble itself does not watch files.
        reload_signal: a signal name such as 'SIGHUP' to send instead of restarting when one of
            `files` changes.
        user: the user to run as (None: Pebble's user).
        group: the group to run as.
        working_dir: the working directory.
        after: services this one starts after.
        before: services this one starts before.
        requires: services this one needs.
        on_success: Pebble's action when the service exits with 0 (None: Pebble's default).
        on_failure: Pebble's action when it exits non-zero (None: Pebble's default).
        on_check_failure: check name -> action ('restart', 'shutdown', 'ignore', ...).
        summary: a short description shown by `pebble services`.
    """

    name: str
    command: str
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str])
    startup: Literal['enabled', 'disabled'] = 'enabled'
    files: Sequence[str] = ()
    reload_signal: str | None = None
    user: str | None = None
    group: str | None = None
    working_dir: str | None = None
    after: Sequence[str] = ()
    before: Sequence[str] = ()
    requires: Sequence[str] = ()
    on_success: str | None = None
    on_failure: str | None = None
    on_check_failure: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str])
    summary: str = ''


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """A Pebble health check, written to the layer with `override: replace`.

    Build one with `CheckSpec.http`, `CheckSpec.tcp` or `CheckSpec.exec`. A check that is down
    makes the component report waiting, naming the check and its failure count.

    Attributes:
        name: the check name.
        level: 'ready', 'alive' or None (no level).
        period: how often Pebble runs it, as a Pebble duration ('10s', '500ms').
        timeout: how long one run may take (None: Pebble's default, 3s capped to the period).
        threshold: consecutive failures before the check is down.
        http_url: for an HTTP check, the URL that must answer 2xx.
        tcp_port: for a TCP check, the port that must accept connections.
        tcp_host: for a TCP check, the host (None: localhost).
        exec_command: for an exec check, the command that must exit 0.
    """

    name: str
    level: Literal['ready', 'alive'] | None = 'ready'
    period: str = '10s'
    timeout: str | None = None
    threshold: int = 3
    http_url: str | None = None
    tcp_port: int | None = None
    tcp_host: str | None = None
    exec_command: str | None = None

    def __post_init__(self) -> None:
        kinds = [kind for kind in (self.http_url, self.tcp_port, self.exec_command) if kind]
        if len(kinds) != 1:
            raise ValueError(
                f'check {self.name!r} needs exactly one of http_url, tcp_port or exec_command; '
                f'use CheckSpec.http(), CheckSpec.tcp() or CheckSpec.exec()'
            )

    @classmethod
    def http(
        cls,
        name: str,
        url: str,
        *,
        level: Literal['ready', 'alive'] | None = 'ready',
        period: str = '10s',
        timeout: str | None = None,
        threshold: int = 3,
    ) -> CheckSpec:
        """A check that GETs `url` and expects a 2xx answer."""
        return cls(name, level, period, timeout, threshold, http_url=url)

    @classmethod
    def tcp(
        cls,
        name: str,
        port: int,
        *,
        host: str | None = None,
        level: Literal['ready', 'alive'] | None = 'ready',
        period: str = '10s',
        timeout: str | None = None,
        threshold: int = 3,
    ) -> CheckSpec:
        """A check that opens a TCP connection to `host:port`."""
        return cls(name, level, period, timeout, threshold, tcp_port=port, tcp_host=host)

    @classmethod
    def exec(
        cls,
        name: str,
        command: str,
        *,
        level: Literal['ready', 'alive'] | None = 'ready',
        period: str = '10s',
        timeout: str | None = None,
        threshold: int = 3,
    ) -> CheckSpec:
        """A check that runs `command` in the container and expects exit code 0."""
        return cls(name, level, period, timeout, threshold, exec_command=command)


@dataclasses.dataclass(frozen=True)
class ContainerFile:
    """A file kept in the container with exactly this content, permissions and owner.

    Give either `content`, or `template` and `variables` (rendered with
    `string.Template.substitute`: `$name` / `${name}`, `$$` for a dollar sign). A template with a
    missing variable blocks the component, naming the file and the variable; nothing is written.

    Attributes:
        path: the absolute path in the container.
        content: the exact content.
        template: a `string.Template` text.
        variables: the template's variables.
        permissions: the file mode, e.g. 0o600.
        user: the owner's user name (None: not enforced; Pebble's user on creation).
        group: the owner's group name (None: not enforced).
    """

    path: str
    content: str | bytes | None = None
    template: str | None = None
    variables: Mapping[str, object] = dataclasses.field(default_factory=dict[str, object])
    permissions: int = 0o644
    user: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if (self.content is None) == (self.template is None):
            raise ValueError(f'file {self.path!r}: give exactly one of content or template')
        if not self.path.startswith('/'):
            raise ValueError(f'file {self.path!r}: the path must be absolute')

    @classmethod
    def from_template(
        cls,
        path: str,
        template: str,
        variables: Mapping[str, object],
        *,
        permissions: int = 0o644,
        user: str | None = None,
        group: str | None = None,
    ) -> ContainerFile:
        """A file rendered from a `string.Template` text with `variables`."""
        return cls(
            path,
            template=template,
            variables=variables,
            permissions=permissions,
            user=user,
            group=group,
        )


@dataclasses.dataclass(frozen=True)
class ExecStep:
    """A one-shot command (a migration, a schema upgrade) run when its inputs change.

    The step runs once, and then again only when `command`, `environment`, `working_dir`,
    `user` or `inputs` change; a failure blocks the component with the exit code and the tail of
    stderr, and the step is retried on the next reconcile.

    Attributes:
        name: the step name, unique in the workload.
        command: the argv.
        inputs: JSON-able values the step depends on (a version, a schema hash).
        environment: environment variables.
        working_dir: the working directory.
        user: the user to run as.
        timeout: seconds the command may run.
        before_services: run before the layer is applied and services (re)started; False: after.
    """

    name: str
    command: Sequence[str]
    inputs: object = None
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict[str, str])
    working_dir: str | None = None
    user: str | None = None
    timeout: float = 300.0
    before_services: bool = True


@dataclasses.dataclass(frozen=True)
class WorkloadSpec:
    """Everything a `PebbleWorkload` keeps in its container.

    Attributes:
        services: the services, in one layer.
        checks: the health checks, in the same layer.
        files: the files to keep in the container.
        steps: one-shot commands, run in order.
    """

    services: Sequence[ServiceSpec] = ()
    checks: Sequence[CheckSpec] = ()
    files: Sequence[ContainerFile] = ()
    steps: Sequence[ExecStep] = ()

    def __post_init__(self) -> None:
        _check_unique('service', [service.name for service in self.services])
        _check_unique('check', [check.name for check in self.checks])
        _check_unique('file', [file.path for file in self.files])
        _check_unique('step', [step.name for step in self.steps])
        paths = {file.path for file in self.files}
        for service in self.services:
            for path in service.files:
                if path not in paths:
                    raise ValueError(
                        f'service {service.name!r} declares file {path!r}, which is not among '
                        f'the WorkloadSpec files'
                    )


@dataclasses.dataclass(frozen=True)
class WorkloadState:
    """What a `PebbleWorkload` reconcile did; the output its dependents receive.

    Attributes:
        container: the container name.
        services: the names of the services it manages.
        checks: the names of the checks it manages.
        pushed_files: paths written in this reconcile.
        restarted: services restarted in this reconcile because a file changed.
        signalled: services sent their reload signal in this reconcile.
        stopped: services stopped in this reconcile because they are no longer declared.
        stopped_checks: checks stopped in this reconcile because they are no longer declared.
        replanned: whether Pebble was asked to replan (a definition changed or a service was
            not running).
        steps_run: the steps run in this reconcile.
    """

    container: str
    services: tuple[str, ...]
    checks: tuple[str, ...]
    pushed_files: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    signalled: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    stopped_checks: tuple[str, ...] = ()
    replanned: bool = False
    steps_run: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Public API: the component
# --------------------------------------------------------------------------------------------


class PebbleWorkload(Component[WorkloadState]):
    """A reconciler component keeping one container's services, checks, files and steps.

    Args:
        name: the component name (the `[name]` status prefix).
        container: the container name from charmcraft.yaml.
        spec: the desired state, or a function of the reconcile context returning it (called
            once per reconcile; it may raise `BlockedError` and friends for bad config).
        layer_label: the Pebble layer label (default: the component name).
        leader_only: run only on the leader (rarely wanted for a workload).
    """

    def __init__(
        self,
        name: str,
        *,
        container: str,
        spec: WorkloadSpec | Callable[[ReconcileContext], WorkloadSpec],
        layer_label: str | None = None,
        leader_only: bool = False,
    ) -> None:
        super().__init__(name, leader_only=leader_only, containers=[container])
        self.container_name = container
        self.spec = spec
        self.layer_label = layer_label or name
        self._last_spec: WorkloadSpec | None = None
        self._last_inputs: dict[str, object] | None = None

    def reconcile(self, ctx: ReconcileContext) -> WorkloadState:
        """Make the container match the spec; see the module documentation for the steps."""
        spec = self.spec(ctx) if callable(self.spec) else self.spec
        self._last_spec = spec
        rendered = _render_files(spec.files)
        container = ctx.charm.unit.get_container(self.container_name)
        sync = _WorkloadSync(container, spec, rendered, self.layer_label, ctx.state)
        try:
            state = sync.run()
        except pebble.Error as error:
            raise _status_for(error, self.container_name, sync.describe) from None
        self._last_inputs = {
            'layer': _digest(_layer_dict(spec)),
            'files': {path: hashlib.sha256(data).hexdigest() for path, data in rendered.items()},
            'steps': {step.name: _step_digest(step) for step in spec.steps},
        }
        return state

    def status(self, ctx: ReconcileContext) -> ops.StatusBase:
        """Waiting while a declared service is not running or a declared check is down."""
        spec = self._last_spec
        if spec is None:
            return ops.ActiveStatus()
        container = ctx.charm.unit.get_container(self.container_name)
        try:
            problems = _health_problems(container, spec)
        except pebble.Error as error:
            raise _status_for(error, self.container_name, 'reading the health') from None
        if problems:
            more = f' (+{len(problems) - 1} more)' if len(problems) > 1 else ''
            raise WaitingError(problems[0] + more)
        return ops.ActiveStatus()

    def inputs(self, ctx: ReconcileContext) -> object:
        """Digests of the layer, the rendered files and the steps of the last reconcile."""
        return self._last_inputs


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


class _StateStore(Protocol):
    def get(self, key: str, default: object = None) -> object: ...

    def set(self, key: str, value: object) -> None: ...


_STATE_PENDING = 'pending-file-restarts'
_STATE_APPLIED = 'applied'
_STATE_STEPS = 'steps'
_STATE_MANAGED = 'managed-names'
_STDERR_TAIL = 160


def _check_unique(kind: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f'duplicate {kind} {name!r} in WorkloadSpec')
        seen.add(name)


def _digest(value: object) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def _step_digest(step: ExecStep) -> str:
    return _digest(
        {
            'command': list(step.command),
            'environment': dict(step.environment),
            'working_dir': step.working_dir,
            'user': step.user,
            'inputs': step.inputs,
        }
    )


def _render_files(files: Sequence[ContainerFile]) -> dict[str, bytes]:
    """Render every file before writing any; a missing variable blocks, naming the file."""
    rendered: dict[str, bytes] = {}
    for file in files:
        if file.template is None:
            content = file.content if file.content is not None else ''
            rendered[file.path] = content.encode() if isinstance(content, str) else content
            continue
        try:
            text = string.Template(file.template).substitute(file.variables)
        except KeyError as error:
            message = f'file {file.path}: template variable ${error.args[0]} is not set'
            logger.error('%s; nothing was written', message)
            raise BlockedError(message) from None
        except ValueError as error:
            message = f'file {file.path}: invalid template: {error}'
            logger.error('%s; nothing was written', message)
            raise BlockedError(message) from None
        rendered[file.path] = text.encode()
    return rendered


def _layer_dict(spec: WorkloadSpec, retired: _Retired | None = None) -> pebble.LayerDict:
    services: dict[str, pebble.ServiceDict] = {s.name: _service_dict(s) for s in spec.services}
    checks: dict[str, pebble.CheckDict] = {c.name: _check_dict(c) for c in spec.checks}
    if retired is not None:
        services.update(retired.services)
        checks.update(retired.checks)
    layer: pebble.LayerDict = {'summary': 'managed by pebble_components', 'services': services}
    if checks:
        layer['checks'] = checks
    return layer


def _service_dict(service: ServiceSpec) -> pebble.ServiceDict:
    entry: pebble.ServiceDict = {
        'override': 'replace',
        'command': service.command,
        'startup': service.startup,
    }
    if service.summary:
        entry['summary'] = service.summary
    if service.environment:
        entry['environment'] = dict(service.environment)
    if service.user is not None:
        entry['user'] = service.user
    if service.group is not None:
        entry['group'] = service.group
    if service.working_dir is not None:
        entry['working-dir'] = service.working_dir
    if service.after:
        entry['after'] = list(service.after)
    if service.before:
        entry['before'] = list(service.before)
    if service.requires:
        entry['requires'] = list(service.requires)
    if service.on_success is not None:
        entry['on-success'] = service.on_success
    if service.on_failure is not None:
        entry['on-failure'] = service.on_failure
    if service.on_check_failure:
        entry['on-check-failure'] = dict(service.on_check_failure)
    return entry


def _check_dict(check: CheckSpec) -> pebble.CheckDict:
    entry: pebble.CheckDict = {
        'override': 'replace',
        'period': check.period,
        'threshold': check.threshold,
    }
    if check.level is not None:
        entry['level'] = check.level
    if check.timeout is not None:
        entry['timeout'] = check.timeout
    if check.http_url is not None:
        entry['http'] = {'url': check.http_url}
    elif check.tcp_port is not None:
        entry['tcp'] = (
            {'port': check.tcp_port, 'host': check.tcp_host}
            if check.tcp_host
            else {'port': check.tcp_port}
        )
    elif check.exec_command is not None:
        entry['exec'] = {'command': check.exec_command}
    return entry


class _WorkloadSync:
    """One reconcile of one container. `describe` names the step in progress for errors."""

    def __init__(
        self,
        container: ops.Container,
        spec: WorkloadSpec,
        rendered: Mapping[str, bytes],
        layer_label: str,
        state: _StateStore,
    ) -> None:
        self.container = container
        self.spec = spec
        self.rendered = rendered
        self.layer_label = layer_label
        self.state = state
        self.describe = 'connecting to Pebble'
        self.pushed: list[str] = []
        self.restarted: list[str] = []
        self.signalled: list[str] = []
        self.stopped: list[str] = []
        self.stopped_checks: list[str] = []
        self.steps_run: list[str] = []
        self.replanned = False

    def run(self) -> WorkloadState:
        self._sync_files()
        self._run_steps(before_services=True)
        self._sync_services()
        self._run_steps(before_services=False)
        return WorkloadState(
            container=self.container.name,
            services=tuple(service.name for service in self.spec.services),
            checks=tuple(check.name for check in self.spec.checks),
            pushed_files=tuple(self.pushed),
            restarted=tuple(self.restarted),
            signalled=tuple(self.signalled),
            stopped=tuple(self.stopped),
            stopped_checks=tuple(self.stopped_checks),
            replanned=self.replanned,
            steps_run=tuple(self.steps_run),
        )

    # ---- files ---------------------------------------------------------------------------------

    def _sync_files(self) -> None:
        for file in self.spec.files:
            self.describe = f'checking {file.path}'
            data = self.rendered[file.path]
            if self._file_matches(file, data):
                continue
            # Remember the restart before writing: if the restart fails later, the file will
            # already match next time, and only this record makes the restart happen.
            self._add_pending(self._services_reading(file.path))
            self.describe = f'writing {file.path}'
            self.container.push(
                file.path,
                data,
                make_dirs=True,
                permissions=file.permissions,
                user=file.user,
                group=file.group,
            )
            logger.info('pushed %s to container %s', file.path, self.container.name)
            self.pushed.append(file.path)

    def _file_matches(self, file: ContainerFile, data: bytes) -> bool:
        try:
            info = self.container.list_files(file.path, itself=True)[0]
        except pebble.APIError as error:
            if error.code == 404:
                return False
            raise
        if info.type != pebble.FileType.FILE or info.size != len(data):
            return False
        if info.permissions != file.permissions:
            return False
        if file.user is not None and info.user != file.user:
            return False
        if file.group is not None and info.group != file.group:
            return False
        with self.container.pull(file.path, encoding=None) as current:
            return current.read() == data

    def _services_reading(self, path: str) -> list[str]:
        return [service.name for service in self.spec.services if path in service.files]

    def _pending(self) -> list[str]:
        value = self.state.get(_STATE_PENDING, [])
        return (
            [str(name) for name in cast('list[object]', value)] if isinstance(value, list) else []
        )

    def _add_pending(self, names: Iterable[str]) -> None:
        pending = sorted(set(self._pending()) | set(names))
        self.state.set(_STATE_PENDING, pending)

    # ---- steps ---------------------------------------------------------------------------------

    def _run_steps(self, *, before_services: bool) -> None:
        stored = self.state.get(_STATE_STEPS, {})
        done = dict(cast('dict[str, str]', stored)) if isinstance(stored, dict) else {}
        for step in self.spec.steps:
            if step.before_services != before_services:
                continue
            digest = _step_digest(step)
            if done.get(step.name) == digest:
                continue
            self.describe = f'running step {step.name!r}'
            self._run_step(step)
            done[step.name] = digest
            self.state.set(_STATE_STEPS, dict(done))
            self.steps_run.append(step.name)

    def _run_step(self, step: ExecStep) -> None:
        logger.info('running step %r in %s: %s', step.name, self.container.name, step.command)
        process = self.container.exec(
            list(step.command),
            environment=dict(step.environment) or None,
            working_dir=step.working_dir,
            user=step.user,
            timeout=step.timeout,
        )
        try:
            process.wait_output()
        except pebble.Error as error:
            if not isinstance(error, pebble.ExecError):
                raise
            failure = cast('pebble.ExecError[str]', error)
            raw = cast('str | bytes | None', failure.stderr) or ''
            stderr = raw.decode(errors='replace') if isinstance(raw, bytes) else raw
            tail = _tail(stderr) or '(no stderr)'
            message = f'step {step.name!r} failed with exit code {failure.exit_code}: {tail}'
            logger.error('%s\nfull stderr:\n%s', message, stderr)
            raise BlockedError(message) from None

    # ---- services ------------------------------------------------------------------------------

    def _sync_services(self) -> None:
        self.describe = 'reading the plan'
        plan = self.container.get_plan()
        plan_digest = _digest(plan.to_dict())
        retired = self._retire_undeclared(plan)
        layer = _layer_dict(self.spec, retired)
        layer_digest = _digest(layer)
        applied = self.state.get(_STATE_APPLIED)
        if applied != {'layer': layer_digest, 'plan': plan_digest}:
            self.describe = f'adding layer {self.layer_label!r}'
            self.container.add_layer(self.layer_label, layer, combine=True)
            new_plan_digest = _digest(self.container.get_plan().to_dict())
        else:
            new_plan_digest = plan_digest
        names = [service.name for service in self.spec.services] + list(retired.services)
        self.describe = 'reading the services'
        infos = {info.name: info for info in self.container.get_services(*names).values()}
        self._restart_for_files(infos)
        to_start = [
            service.name
            for service in self.spec.services
            if _needs_start(service, infos.get(service.name))
        ]
        # Replan when our layer changed the plan, when our layer differs from the one last
        # replanned successfully (a failed replan is retried), or to start a stopped service.
        # Another layer's change to the plan alone is not ours to replan.
        replanned = cast('dict[str, object]', applied) if isinstance(applied, dict) else {}
        layer_replanned = replanned.get('layer') == layer_digest
        if new_plan_digest != plan_digest or not layer_replanned or to_start:
            self.describe = 'replanning the services'
            self.container.replan()
            self.replanned = True
            logger.info(
                'replanned container %s (not running before: %s)',
                self.container.name,
                ', '.join(to_start) or 'none',
            )
        self.state.set(_STATE_APPLIED, {'layer': layer_digest, 'plan': new_plan_digest})
        self._stop_retired(list(retired.services), infos)
        self._stop_retired_checks(list(retired.checks))

    def _retire_undeclared(self, plan: pebble.Plan) -> _Retired:
        """Services and checks this component declared before and no longer does.

        They stay in the layer, redefined from the plan with `startup: disabled` (Pebble's
        layers can only add or replace, never delete). Names no longer in the plan (a restarted
        container) are forgotten. The names are remembered before the layer is added.
        """
        remembered = self._managed()
        services = {service.name for service in self.spec.services}
        checks = {check.name for check in self.spec.checks}
        retired = _Retired(
            services={
                name: _retired_service(plan.services[name])
                for name in sorted(remembered['services'] - services)
                if name in plan.services
            },
            checks={
                name: _retired_check(plan.checks[name])
                for name in sorted(remembered['checks'] - checks)
                if name in plan.checks
            },
        )
        managed = {
            'services': sorted(services | retired.services.keys()),
            'checks': sorted(checks | retired.checks.keys()),
        }
        self.state.set(_STATE_MANAGED, managed)
        return retired

    def _managed(self) -> dict[str, set[str]]:
        stored = self.state.get(_STATE_MANAGED, {})
        managed = cast('dict[str, object]', stored) if isinstance(stored, dict) else {}
        result: dict[str, set[str]] = {}
        for kind in ('services', 'checks'):
            names = managed.get(kind, [])
            items = cast('list[object]', names) if isinstance(names, list) else []
            result[kind] = {str(name) for name in items}
        return result

    def _stop_retired(self, names: list[str], infos: Mapping[str, pebble.ServiceInfo]) -> None:
        """Stop the services no longer declared that still run (a steady state reads only)."""
        if not names:
            return
        if self.replanned:
            # Pebble's replan restarts a service whose definition changed, even to `disabled`.
            self.describe = 'reading the services no longer declared'
            infos = self.container.get_services(*names)
        running = [name for name in names if name in infos and _is_started(infos[name])]
        if not running:
            return
        self.describe = f'stopping {", ".join(running)} (no longer declared)'
        self.container.stop(*running)
        self.stopped.extend(running)
        logger.info(
            'stopped %s in container %s: no longer declared',
            ', '.join(running),
            self.container.name,
        )

    def _stop_retired_checks(self, names: list[str]) -> None:
        """Stop the checks no longer declared that still run.

        Pebble keeps a running check running when its definition turns `startup: disabled`;
        the layer entry only keeps it from being started again.
        """
        if not names:
            return
        self.describe = 'reading the checks no longer declared'
        checks = self.container.get_checks(*names)
        running = [
            name
            for name in names
            if name in checks and checks[name].status != pebble.CheckStatus.INACTIVE
        ]
        if not running:
            return
        self.describe = f'stopping checks {", ".join(running)} (no longer declared)'
        self.container.stop_checks(*running)
        self.stopped_checks.extend(running)
        logger.info(
            'stopped checks %s in container %s: no longer declared',
            ', '.join(running),
            self.container.name,
        )

    def _restart_for_files(self, infos: Mapping[str, pebble.ServiceInfo]) -> None:
        pending = self._pending()
        if not pending:
            return
        by_name = {service.name: service for service in self.spec.services}
        for name in pending:
            service = by_name.get(name)
            info = infos.get(name)
            # Only a running service is restarted or signalled. One that is not running reads
            # the new file when it starts: replan starts an enabled one, Pebble restarts one in
            # backoff, and a service no longer declared has nothing to reload.
            if service is not None and info is not None and info.is_running():
                if service.reload_signal:
                    self.describe = f'sending {service.reload_signal} to {name!r}'
                    self.container.send_signal(service.reload_signal, name)
                    self.signalled.append(name)
                else:
                    self.describe = f'restarting {name!r} after a file change'
                    self.container.restart(name)
                    self.restarted.append(name)
                logger.info(
                    '%s %r: a file it reads changed',
                    'signalled' if service.reload_signal else 'restarted',
                    name,
                )
            remaining = [other for other in self._pending() if other != name]
            self.state.set(_STATE_PENDING, remaining)


@dataclasses.dataclass(frozen=True)
class _Retired:
    """Layer entries for the services and checks no longer declared, by name."""

    services: dict[str, pebble.ServiceDict]
    checks: dict[str, pebble.CheckDict]


def _retired_service(service: pebble.Service) -> pebble.ServiceDict:
    entry = service.to_dict()
    entry['override'] = 'replace'
    entry['startup'] = 'disabled'
    return entry


def _retired_check(check: pebble.Check) -> pebble.CheckDict:
    entry = check.to_dict()
    entry['override'] = 'replace'
    entry['startup'] = 'disabled'
    return entry


def _current(info: pebble.ServiceInfo) -> str:
    """'active', 'inactive', 'error' or 'backoff' (ops has no enum member for 'backoff')."""
    return str(getattr(info.current, 'value', info.current))


def _is_started(info: pebble.ServiceInfo) -> bool:
    """Running, or between restarts ('backoff': is_running() is False)."""
    return info.is_running() or _current(info) == 'backoff'


def _is_finished(service: ServiceSpec, info: pebble.ServiceInfo) -> bool:
    """A service declared `on_success='ignore'` that exited with 0: Pebble reports it inactive.

    (A non-zero exit under `on_failure='ignore'` is reported as 'error', so it is not finished.)
    """
    return service.on_success == 'ignore' and _current(info) == 'inactive'


def _needs_start(service: ServiceSpec, info: pebble.ServiceInfo | None) -> bool:
    """Whether a replan is needed to start this service.

    Not for a disabled service, a started one (Pebble itself restarts a service in backoff; a
    replan would reset its backoff), or a finished one (see `_is_finished`).
    """
    if service.startup != 'enabled':
        return False
    if info is None:
        return True
    return not _is_started(info) and not _is_finished(service, info)


def _health_problems(container: ops.Container, spec: WorkloadSpec) -> list[str]:
    problems: list[str] = []
    by_name = {service.name: service for service in spec.services}
    names = [service.name for service in spec.services if service.startup == 'enabled']
    if names:
        infos = container.get_services(*names)
        for name in names:
            info = infos.get(name)
            if info is None:
                problems.append(f'service {name!r} is not in the plan')
            elif not info.is_running() and not _is_finished(by_name[name], info):
                problems.append(f'service {name!r} is not running ({_current(info)})')
    check_names = [check.name for check in spec.checks]
    if check_names:
        checks = container.get_checks(*check_names)
        for name in check_names:
            check = checks.get(name)
            if check is not None and check.status == pebble.CheckStatus.DOWN:
                plural = '' if check.failures == 1 else 's'
                problems.append(f'check {name!r} failing ({check.failures} failure{plural})')
    return problems


def _tail(text: str) -> str:
    flat = ' '.join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= _STDERR_TAIL else '...' + flat[-_STDERR_TAIL:]


def _change_error_message(error: pebble.ChangeError) -> str:
    """`service 'x' failed to start: exited quickly with code 3 (last output: boom)`."""
    first = error.err.splitlines()[-1].lstrip('- ') if error.err else str(error)
    marker = 'Most recent service output:'
    outputs = [
        entry.split(marker, 1)[1]
        for task in error.change.tasks
        for entry in task.log
        if marker in entry
    ]
    output = f' (last output: {_tail(outputs[-1])})' if outputs else ''
    return f'{first}{output}'


def _status_for(error: pebble.Error, container: str, action: str) -> StatusError:
    """The status for a Pebble error raised while doing `action`; logged with its cause."""
    if isinstance(error, pebble.ConnectionError):
        status: StatusError = WaitingError(f'waiting for Pebble in container {container!r}')
        logger.info('container %s: Pebble not reachable while %s: %s', container, action, error)
        return status
    if isinstance(error, pebble.ChangeError):
        status = BlockedError(f'{action} failed: {_change_error_message(error)}')
    elif isinstance(error, pebble.TimeoutError):
        status = WaitingError(f'timed out while {action} ({error})')
    elif isinstance(error, pebble.PathError):
        status = BlockedError(f'{action} failed: {error.kind} - {error.message}')
    elif isinstance(error, pebble.APIError):
        message = f'Pebble API error {error.code} while {action}: {error.message}'
        status = WaitingError(message) if error.code >= 500 else BlockedError(message)
    elif isinstance(error, pebble.ExecError):
        status = BlockedError(f'{action} failed with exit code {error.exit_code}')
    else:
        status = WaitingError(f'Pebble error while {action}: {error}')
    logger.warning('container %s: %s', container, status.message)
    return status
