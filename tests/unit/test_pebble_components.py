"""Unit tier for pebble_components: a tiny charm using CharmReconciler, driven through Scenario.

Scenario fakes Pebble (no processes, no restarts recorded, no backoff), so restarts, signals and
Pebble errors are observed by recording or failing `ops.Container` methods with monkeypatch.
Real behaviour (PIDs, real checks, real exits) is proven in tests/functional/pebble.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0.pebble_components import (
    CheckSpec,
    ContainerFile,
    ExecStep,
    PebbleWorkload,
    ServiceSpec,
    WorkloadSpec,
    WorkloadState,
)
from charms.reconcile_libs.v0.reconciler import (
    BlockedError,
    CharmReconciler,
    Component,
    ReconcileContext,
)
from ops import pebble, testing

META: dict[str, Any] = {
    'name': 'pebble-test',
    'containers': {'workload': {'resource': 'image'}},
    'resources': {'image': {'type': 'oci-image'}},
}
CONFIG: dict[str, Any] = {
    'options': {
        'mode': {'type': 'string', 'default': 'one'},
        'greeting': {'type': 'string', 'default': 'hello'},
    }
}
CONF = '/etc/app/app.conf'


def default_spec(charm: ops.CharmBase) -> WorkloadSpec:
    mode = str(charm.config['mode'])
    if mode == 'invalid':
        raise BlockedError("mode 'invalid' is not supported")
    return WorkloadSpec(
        services=[
            ServiceSpec('app', 'app serve', environment={'MODE': mode}, files=[CONF]),
            ServiceSpec('sidecar', 'sidecar run'),
        ],
        files=[
            ContainerFile.from_template(
                CONF, 'mode = $mode\ngreeting = $greeting\n', {'mode': mode, 'greeting': 'hi'}
            )
        ],
        checks=[CheckSpec.http('up', 'http://localhost:8080/')],
    )


class Recorder(Component[None]):
    """A dependent: records the workload's output, to prove it is handed on."""

    outputs: list[WorkloadState] = []

    def __init__(self, workload: PebbleWorkload) -> None:
        super().__init__('recorder')
        self.workload = workload

    def reconcile(self, ctx: ReconcileContext) -> None:
        Recorder.outputs.append(ctx.output_of(self.workload))


class WorkloadCharm(ops.CharmBase):
    make_spec: Callable[[ops.CharmBase], WorkloadSpec] = staticmethod(default_spec)

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.web = PebbleWorkload('web', container='workload', spec=self._spec)
        self.reconciler.add(self.web)
        self.reconciler.add(Recorder(self.web), depends_on=[self.web])

    def _spec(self, ctx: ReconcileContext) -> WorkloadSpec:
        return type(self).make_spec(self)


@pytest.fixture(autouse=True)
def _reset() -> None:
    Recorder.outputs.clear()
    WorkloadCharm.make_spec = staticmethod(default_spec)


@pytest.fixture
def ctx() -> testing.Context[WorkloadCharm]:
    return testing.Context(WorkloadCharm, meta=META, config=CONFIG)


@pytest.fixture
def etc(tmp_path: Path) -> testing.Mount:
    # A mount keeps pushed files across runs (Scenario wipes the container's filesystem).
    return testing.Mount(location='/etc/app', source=tmp_path)


def _container(mount: testing.Mount, **kwargs: Any) -> testing.Container:
    return testing.Container('workload', can_connect=True, mounts={'etc': mount}, **kwargs)


def _ready(
    ctx: testing.Context[WorkloadCharm], mount: testing.Mount, **state: Any
) -> testing.State:
    container = _container(mount)
    return ctx.run(ctx.on.pebble_ready(container), testing.State(containers={container}, **state))


def _calls(monkeypatch: pytest.MonkeyPatch, method: str) -> list[tuple[Any, ...]]:
    """Record calls to ops.Container.<method> (still performing them)."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(ops.Container, method)

    def recorder(self: ops.Container, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ops.Container, method, recorder)
    return calls


def _fail(monkeypatch: pytest.MonkeyPatch, method: str, error: Exception) -> None:
    def failing(self: ops.Container, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(ops.Container, method, failing)


def _change_error() -> pebble.ChangeError:
    now = datetime.datetime.now(datetime.timezone.utc)
    task = pebble.Task(
        id=pebble.TaskID('1'),
        kind='start',
        summary='Start service "app"',
        status='Error',
        log=['INFO Most recent service output:\n    bad flag --x', 'ERROR exited quickly'],
        progress=pebble.TaskProgress(label='', done=1, total=1),
        spawn_time=now,
        ready_time=now,
    )
    err = (
        'cannot perform the following tasks:\n'
        '- Start service "app" (service start attempt: exited quickly with code 2)'
    )
    change = pebble.Change(
        id=pebble.ChangeID('1'),
        kind='replan',
        summary='Replan',
        status='Error',
        tasks=[task],
        ready=True,
        err=err,
        spawn_time=now,
        ready_time=now,
    )
    return pebble.ChangeError(err, change)


# ---- services ---------------------------------------------------------------------------------


def test_pebble_ready_adds_a_replace_layer_starts_services_and_is_active(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, tmp_path: Path
) -> None:
    out = _ready(ctx, etc)
    container = out.get_container('workload')
    plan = container.plan
    assert plan.services['app'].command == 'app serve'
    assert plan.services['app'].override == 'replace'
    assert plan.services['app'].environment == {'MODE': 'one'}
    assert plan.checks['up'].http == {'url': 'http://localhost:8080/'}
    assert container.service_statuses['app'] == pebble.ServiceStatus.ACTIVE
    assert container.service_statuses['sidecar'] == pebble.ServiceStatus.ACTIVE
    assert (tmp_path / 'app.conf').read_text() == 'mode = one\ngreeting = hi\n'
    assert out.unit_status == testing.ActiveStatus()
    assert Recorder.outputs[-1].pushed_files == (CONF,)
    assert Recorder.outputs[-1].replanned


def test_steady_state_pushes_adds_and_replans_nothing(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)
    pushes = _calls(monkeypatch, 'push')
    layers = _calls(monkeypatch, 'add_layer')
    replans = _calls(monkeypatch, 'replan')
    restarts = _calls(monkeypatch, 'restart')
    again = ctx.run(ctx.on.update_status(), out)
    assert (pushes, layers, replans, restarts) == ([], [], [], [])
    assert again.unit_status == testing.ActiveStatus()
    assert Recorder.outputs[-1] == WorkloadState('workload', ('app', 'sidecar'), ('up',))


def test_config_change_updates_the_layer_and_replans(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)
    replans = _calls(monkeypatch, 'replan')
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(out, config={'mode': 'two'}))
    assert out.get_container('workload').plan.services['app'].environment == {'MODE': 'two'}
    assert len(replans) == 1
    assert out.unit_status == testing.ActiveStatus()


def test_replan_happens_when_an_enabled_service_is_not_running(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)
    container = out.get_container('workload')
    stopped = dataclasses.replace(
        container,
        service_statuses={**container.service_statuses, 'sidecar': pebble.ServiceStatus.INACTIVE},
    )
    replans = _calls(monkeypatch, 'replan')
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out, containers={stopped}))
    assert len(replans) == 1
    assert out.get_container('workload').service_statuses['sidecar'] == (
        pebble.ServiceStatus.ACTIVE
    )


def test_container_not_reachable_is_waiting_and_pebble_ready_recovers(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    offline = testing.Container('workload', can_connect=False, mounts={'etc': etc})
    out = ctx.run(ctx.on.start(), testing.State(containers={offline}))
    assert out.unit_status == testing.WaitingStatus(
        "[web] waiting for Pebble in container 'workload' (+1 more)"
    )
    online = dataclasses.replace(offline, can_connect=True)
    out = ctx.run(ctx.on.pebble_ready(online), dataclasses.replace(out, containers={online}))
    assert out.unit_status == testing.ActiveStatus()


def test_bad_config_from_the_spec_function_blocks(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    out = ctx.run(
        ctx.on.config_changed(),
        testing.State(config={'mode': 'invalid'}, containers={_container(etc)}),
    )
    assert out.unit_status == testing.BlockedStatus(
        "[web] mode 'invalid' is not supported (+1 more)"
    )


# ---- files ------------------------------------------------------------------------------------


def test_missing_template_variable_blocks_and_writes_nothing(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, tmp_path: Path
) -> None:
    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(
            files=[
                ContainerFile('/etc/app/first.conf', content='fine'),
                ContainerFile.from_template('/etc/app/x.conf', 'port=$port', {}),
            ]
        )

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    assert out.unit_status == testing.BlockedStatus(
        '[web] file /etc/app/x.conf: template variable $port is not set (+1 more)'
    )
    assert list(tmp_path.iterdir()) == []


def test_changed_file_restarts_only_running_services_that_declared_it(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)
    restarts = _calls(monkeypatch, 'restart')
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(out, config={'greeting': 'x'}))
    assert restarts == []  # the file does not use $greeting from config: nothing changed

    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        base = default_spec(charm)
        return dataclasses.replace(base, files=[ContainerFile(CONF, content='changed\n')])

    WorkloadCharm.make_spec = staticmethod(spec)
    out = ctx.run(ctx.on.update_status(), out)
    assert restarts == [('app',)]
    assert Recorder.outputs[-1].restarted == ('app',)
    assert out.unit_status == testing.ActiveStatus()


def test_changed_file_sends_the_reload_signal(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = {'value': 'one'}

    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(
            services=[ServiceSpec('nginx', 'nginx', files=[CONF], reload_signal='SIGHUP')],
            files=[ContainerFile(CONF, content=content['value'])],
        )

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    signals = _calls(monkeypatch, 'send_signal')
    restarts = _calls(monkeypatch, 'restart')
    content['value'] = 'two'
    ctx.run(ctx.on.update_status(), out)
    assert signals == [('SIGHUP', 'nginx')]
    assert restarts == []


def test_a_failed_restart_is_not_lost_it_happens_on_the_next_hook(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = {'value': 'one'}

    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(
            services=[ServiceSpec('app', 'app', files=[CONF])],
            files=[ContainerFile(CONF, content=content['value'])],
        )

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    content['value'] = 'two'
    with monkeypatch.context() as patch:
        _fail(patch, 'restart', pebble.ConnectionError('socket closed: container restarted?'))
        out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status == testing.WaitingStatus(
        "[web] waiting for Pebble in container 'workload' (+1 more)"
    )
    restarts = _calls(monkeypatch, 'restart')
    out = ctx.run(ctx.on.update_status(), out)  # the file already matches now
    assert restarts == [('app',)]
    assert out.unit_status == testing.ActiveStatus()
    restarts.clear()
    ctx.run(ctx.on.update_status(), out)
    assert restarts == []


def test_drifted_permissions_are_pushed_again(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, tmp_path: Path
) -> None:
    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(files=[ContainerFile(CONF, content='pw', permissions=0o600)])

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    assert (tmp_path / 'app.conf').stat().st_mode & 0o777 == 0o600
    (tmp_path / 'app.conf').chmod(0o666)
    ctx.run(ctx.on.update_status(), out)
    assert (tmp_path / 'app.conf').stat().st_mode & 0o777 == 0o600
    assert Recorder.outputs[-1].pushed_files == (CONF,)


# ---- health -----------------------------------------------------------------------------------


def test_check_failed_reports_the_check_and_its_failures_then_recovers(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    out = _ready(ctx, etc)
    container = out.get_container('workload')
    down = testing.CheckInfo(
        'up', level=pebble.CheckLevel.READY, status=pebble.CheckStatus.DOWN, failures=3
    )
    failing = dataclasses.replace(container, check_infos={down})
    out = ctx.run(
        ctx.on.pebble_check_failed(failing, down), dataclasses.replace(out, containers={failing})
    )
    assert out.unit_status == testing.WaitingStatus(
        "[web] check 'up' failing (3 failures) (+1 more)"
    )
    up = dataclasses.replace(down, status=pebble.CheckStatus.UP, failures=0)
    healthy = dataclasses.replace(container, check_infos={up})
    out = ctx.run(
        ctx.on.pebble_check_recovered(healthy, up), dataclasses.replace(out, containers={healthy})
    )
    assert out.unit_status == testing.ActiveStatus()


def test_backoff_service_is_reported_as_not_running(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)

    def get_services(self: ops.Container, *names: str) -> dict[str, pebble.ServiceInfo]:
        return {
            'app': pebble.ServiceInfo('app', pebble.ServiceStartup.ENABLED, 'backoff'),
            'sidecar': pebble.ServiceInfo(
                'sidecar', pebble.ServiceStartup.ENABLED, pebble.ServiceStatus.ACTIVE
            ),
        }

    monkeypatch.setattr(ops.Container, 'get_services', get_services)
    out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status == testing.WaitingStatus(
        "[web] service 'app' is not running (backoff) (+1 more)"
    )


def test_custom_notice_triggers_a_reconcile(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    notice = testing.Notice('example.com/config-reload')
    container = _container(etc, notices=[notice])
    out = ctx.run(
        ctx.on.pebble_custom_notice(container, notice), testing.State(containers={container})
    )
    assert 'app' in out.get_container('workload').plan.services
    assert out.unit_status == testing.ActiveStatus()


# ---- exec steps -------------------------------------------------------------------------------


def _step_spec(version: int) -> Callable[[ops.CharmBase], WorkloadSpec]:
    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(steps=[ExecStep('migrate', ['app', 'migrate'], inputs=version)])

    return spec


def test_exec_step_runs_once_per_input_change(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    WorkloadCharm.make_spec = staticmethod(_step_spec(1))
    container = _container(etc, execs={testing.Exec(['app', 'migrate'])})
    out = ctx.run(ctx.on.pebble_ready(container), testing.State(containers={container}))
    out = ctx.run(ctx.on.update_status(), out)
    assert len(ctx.exec_history['workload']) == 1
    WorkloadCharm.make_spec = staticmethod(_step_spec(2))
    out = ctx.run(ctx.on.update_status(), out)
    assert len(ctx.exec_history['workload']) == 2
    assert out.unit_status == testing.ActiveStatus()


def test_failing_exec_step_blocks_with_the_stderr_tail_and_is_retried(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    WorkloadCharm.make_spec = staticmethod(_step_spec(1))
    failing = testing.Exec(['app', 'migrate'], return_code=2, stderr='line 1\nERROR: no table')
    container = _container(etc, execs={failing})
    out = ctx.run(ctx.on.pebble_ready(container), testing.State(containers={container}))
    assert out.unit_status == testing.BlockedStatus(
        "[web] step 'migrate' failed with exit code 2: line 1 ERROR: no table (+1 more)"
    )
    fixed = dataclasses.replace(container, execs={testing.Exec(['app', 'migrate'])})
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out, containers={fixed}))
    assert out.unit_status == testing.ActiveStatus()
    assert len(ctx.exec_history['workload']) == 2


# ---- every Pebble error class is a status, never a crash ---------------------------------------


@pytest.mark.parametrize(
    ('method', 'error', 'expected'),
    [
        (
            'add_layer',
            pebble.APIError({}, 400, 'Bad Request', 'cannot add layer: cycle'),
            testing.BlockedStatus(
                "[web] Pebble API error 400 while adding layer 'web': cannot add layer: cycle"
            ),
        ),
        (
            'get_plan',
            pebble.APIError({}, 500, 'Internal Server Error', 'state locked'),
            testing.WaitingStatus(
                '[web] Pebble API error 500 while reading the plan: state locked'
            ),
        ),
        (
            'replan',
            _change_error(),
            testing.BlockedStatus(
                '[web] replanning the services failed: Start service "app" (service start '
                'attempt: exited quickly with code 2) (last output: bad flag --x)'
            ),
        ),
        (
            'replan',
            pebble.TimeoutError('timed out waiting for change 3 (30 seconds)'),
            testing.WaitingStatus(
                '[web] timed out while replanning the services '
                '(timed out waiting for change 3 (30 seconds))'
            ),
        ),
        (
            'push',
            pebble.PathError('permission-denied', 'open /etc/app/app.conf: permission denied'),
            testing.BlockedStatus(
                f'[web] writing {CONF} failed: permission-denied - '
                'open /etc/app/app.conf: permission denied'
            ),
        ),
        (
            'list_files',
            pebble.ConnectionError('cannot connect: socket gone'),
            testing.WaitingStatus("[web] waiting for Pebble in container 'workload'"),
        ),
        (
            'get_checks',
            pebble.ProtocolError('expected Content-Type application/json'),
            testing.WaitingStatus(
                '[web] Pebble error while reading the health: '
                'expected Content-Type application/json'
            ),
        ),
    ],
)
def test_pebble_errors_become_a_status_naming_the_cause(
    ctx: testing.Context[WorkloadCharm],
    etc: testing.Mount,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    error: Exception,
    expected: ops.StatusBase,
) -> None:
    _fail(monkeypatch, method, error)
    out = _ready(ctx, etc)
    more = ' (+1 more)'  # the dependent recorder waits for the workload
    assert out.unit_status.name == expected.name
    assert out.unit_status.message == expected.message + more


def test_exec_api_error_for_a_missing_binary_blocks(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    WorkloadCharm.make_spec = staticmethod(_step_spec(1))
    _fail(
        monkeypatch,
        'exec',
        pebble.APIError({}, 400, 'Bad Request', 'cannot find executable "app"'),
    )
    out = _ready(ctx, etc)
    assert out.unit_status == testing.BlockedStatus(
        "[web] Pebble API error 400 while running step 'migrate': "
        'cannot find executable "app" (+1 more)'
    )


def test_a_genuine_bug_still_raises(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        raise ZeroDivisionError('bug in the charm')

    WorkloadCharm.make_spec = staticmethod(spec)
    with pytest.raises(testing.errors.UncaughtCharmError, match='bug in the charm'):
        _ready(ctx, etc)


# ---- declaration errors are programming errors -------------------------------------------------


def test_spec_validation_names_the_mistake() -> None:
    with pytest.raises(ValueError, match="declares file '/nope', which is not among"):
        WorkloadSpec(services=[ServiceSpec('a', 'a', files=['/nope'])])
    with pytest.raises(ValueError, match="duplicate service 'a'"):
        WorkloadSpec(services=[ServiceSpec('a', 'a'), ServiceSpec('a', 'b')])
    with pytest.raises(ValueError, match='exactly one of http_url, tcp_port or exec_command'):
        CheckSpec('c')
    with pytest.raises(ValueError, match='exactly one of content or template'):
        ContainerFile('/x')
    with pytest.raises(ValueError, match='must be absolute'):
        ContainerFile('x', content='')


def test_check_spec_builders_render_pebble_layers(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount
) -> None:
    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(
            services=[ServiceSpec('a', 'a', startup='disabled')],
            checks=[
                CheckSpec.tcp('port', 5432, host='127.0.0.1', level='alive', threshold=5),
                CheckSpec.exec('cmd', 'pg_isready', level=None, period='30s', timeout='5s'),
            ],
        )

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    plan = out.get_container('workload').plan
    assert plan.checks['port'].tcp == {'port': 5432, 'host': '127.0.0.1'}
    assert plan.checks['port'].level == pebble.CheckLevel.ALIVE
    assert plan.checks['port'].threshold == 5
    assert plan.checks['cmd'].exec == {'command': 'pg_isready'}
    assert plan.checks['cmd'].timeout == '5s'
    # A disabled service is defined but not started, and not reported as "not running".
    statuses = out.get_container('workload').service_statuses
    assert statuses.get('a', pebble.ServiceStatus.INACTIVE) == pebble.ServiceStatus.INACTIVE
    assert out.unit_status == testing.ActiveStatus()


# ---- services that finish, back off, or are no longer declared ---------------------------------


def _one_shot_spec(charm: ops.CharmBase) -> WorkloadSpec:
    return WorkloadSpec(
        services=[
            ServiceSpec('app', 'app serve'),
            ServiceSpec('seed', 'app seed-cache', on_success='ignore'),
        ]
    )


@pytest.mark.parametrize(
    ('current', 'replanned'),
    [
        # Exited 0 under on-success: ignore -> Pebble reports 'inactive': finished, left alone.
        (pebble.ServiceStatus.INACTIVE, False),
        # Exited non-zero (on-failure) -> 'error': not finished, started again.
        (pebble.ServiceStatus.ERROR, True),
    ],
)
def test_a_service_that_finished_under_on_success_ignore_is_healthy_and_not_restarted(
    ctx: testing.Context[WorkloadCharm],
    etc: testing.Mount,
    monkeypatch: pytest.MonkeyPatch,
    current: pebble.ServiceStatus,
    replanned: bool,
) -> None:
    WorkloadCharm.make_spec = staticmethod(_one_shot_spec)
    out = _ready(ctx, etc)
    container = out.get_container('workload')
    exited = dataclasses.replace(
        container, service_statuses={**container.service_statuses, 'seed': current}
    )
    replans = _calls(monkeypatch, 'replan')
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(out, containers={exited}))
    assert bool(replans) is replanned
    assert out.unit_status == testing.ActiveStatus()


def _backoff_services(self: ops.Container, *names: str) -> dict[str, pebble.ServiceInfo]:
    return {
        name: pebble.ServiceInfo(name, pebble.ServiceStartup.ENABLED, 'backoff') for name in names
    }


@pytest.mark.parametrize('reload_signal', ['SIGHUP', None])
def test_a_file_change_for_a_service_in_backoff_neither_signals_restarts_nor_replans(
    ctx: testing.Context[WorkloadCharm],
    etc: testing.Mount,
    monkeypatch: pytest.MonkeyPatch,
    reload_signal: str | None,
) -> None:
    content = {'value': 'one'}

    def spec(charm: ops.CharmBase) -> WorkloadSpec:
        return WorkloadSpec(
            services=[ServiceSpec('nginx', 'nginx', files=[CONF], reload_signal=reload_signal)],
            files=[ContainerFile(CONF, content=content['value'])],
        )

    WorkloadCharm.make_spec = staticmethod(spec)
    out = _ready(ctx, etc)
    monkeypatch.setattr(ops.Container, 'get_services', _backoff_services)
    signals = _calls(monkeypatch, 'send_signal')
    restarts = _calls(monkeypatch, 'restart')
    replans = _calls(monkeypatch, 'replan')
    content['value'] = 'two'
    out = ctx.run(ctx.on.update_status(), out)
    assert (signals, restarts, replans) == ([], [], [])
    assert Recorder.outputs[-1].pushed_files == (CONF,)
    assert out.unit_status == testing.WaitingStatus(
        "[web] service 'nginx' is not running (backoff) (+1 more)"
    )
    # Dropped, not deferred: once the service runs again, no late signal or restart arrives.
    monkeypatch.undo()
    signals = _calls(monkeypatch, 'send_signal')
    restarts = _calls(monkeypatch, 'restart')
    out = ctx.run(ctx.on.update_status(), out)
    assert (signals, restarts) == ([], [])
    assert out.unit_status == testing.ActiveStatus()


def test_a_service_and_check_no_longer_declared_are_disabled_and_stopped(
    ctx: testing.Context[WorkloadCharm], etc: testing.Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _ready(ctx, etc)  # default_spec: services app + sidecar, check up

    def without_sidecar(charm: ops.CharmBase) -> WorkloadSpec:
        base = default_spec(charm)
        return dataclasses.replace(
            base, services=[s for s in base.services if s.name != 'sidecar'], checks=[]
        )

    WorkloadCharm.make_spec = staticmethod(without_sidecar)
    out = ctx.run(ctx.on.config_changed(), out)
    container = out.get_container('workload')
    assert container.plan.services['sidecar'].startup == 'disabled'
    assert container.plan.services['sidecar'].command == 'sidecar run'
    assert container.service_statuses['sidecar'] == pebble.ServiceStatus.INACTIVE
    assert container.service_statuses['app'] == pebble.ServiceStatus.ACTIVE
    assert container.plan.checks['up'].startup == pebble.CheckStartup.DISABLED
    assert {info.name: info.status for info in container.check_infos} == {
        'up': pebble.CheckStatus.INACTIVE
    }
    assert Recorder.outputs[-1].stopped == ('sidecar',)
    assert out.unit_status == testing.ActiveStatus()

    calls = [_calls(monkeypatch, m) for m in ('add_layer', 'replan', 'stop', 'stop_checks')]
    out = ctx.run(ctx.on.update_status(), out)
    assert calls == [[], [], [], []]
    assert out.get_container('workload').service_statuses['sidecar'] == (
        pebble.ServiceStatus.INACTIVE
    )

    WorkloadCharm.make_spec = staticmethod(default_spec)
    out = ctx.run(ctx.on.config_changed(), out)
    container = out.get_container('workload')
    assert container.plan.services['sidecar'].startup == 'enabled'
    assert container.service_statuses['sidecar'] == pebble.ServiceStatus.ACTIVE
    assert out.unit_status == testing.ActiveStatus()
