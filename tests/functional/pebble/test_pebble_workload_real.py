"""PebbleWorkload against real Pebble daemons (v1.26.0 and the newest release), real processes.

Every test runs on both Pebble versions (the `pebble_daemon` fixture is parametrized).
Processes are identified by unique command lines and their PIDs read from /proc, so "restarted"
and "left alone" are observed, not inferred.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

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
from ops import pebble
from pebble_daemon import (
    DictState,
    PebbleDaemon,
    make_context,
    run_component,
    service_pid,
)

PY = sys.executable


def _sleeper(marker: str) -> str:
    # A long sleep whose command line carries a unique marker, so /proc finds its PID.
    return f'{PY} -c "import time; time.sleep(100000)" {marker}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def _wait_for_check(
    container: ops.Container, name: str, status: pebble.CheckStatus, timeout: float = 10.0
) -> pebble.CheckInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = container.get_checks(name)[name]
        if info.status == status or time.monotonic() > deadline:
            return info
        time.sleep(0.05)


def _marker(tmp_path: Path, name: str) -> str:
    return f'rl-{name}-{abs(hash(str(tmp_path))) % 10**8}'


def test_steady_state_leaves_pids_alone_and_sends_no_mutating_call(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    a, b = _marker(tmp_path, 'a'), _marker(tmp_path, 'b')
    conf = tmp_path / 'etc' / 'a.conf'
    spec = WorkloadSpec(
        services=[
            ServiceSpec('a', _sleeper(a), files=[str(conf)]),
            ServiceSpec('b', _sleeper(b), environment={'MODE': 'one'}),
        ],
        files=[ContainerFile(str(conf), content='x = 1\n', permissions=0o640)],
    )
    component = PebbleWorkload('web', container='workload', spec=spec)
    state = DictState()
    ctx = make_context(container, state)

    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert isinstance(output, WorkloadState)
    assert output.pushed_files == (str(conf),)
    assert output.replanned
    assert conf.read_text() == 'x = 1\n'
    assert conf.stat().st_mode & 0o777 == 0o640
    pids = (service_pid(a), service_pid(b))
    assert None not in pids

    client.reset()
    writes_before = state.writes
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert client.mutating() == []
    assert (service_pid(a), service_pid(b)) == pids
    assert output == WorkloadState('workload', ('a', 'b'), ())
    assert state.writes == writes_before
    # The reads of a steady-state reconcile: plan, services, file stat + read, service health.
    assert sorted(client.requests) == [
        ('GET', '/v1/files', 'list'),
        ('GET', '/v1/files', 'read'),
        ('GET', '/v1/plan', ''),
        ('GET', '/v1/services', ''),
        ('GET', '/v1/services', ''),
    ]


def test_config_change_restarts_only_the_changed_service(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, _ = pebble_daemon.container()
    a, b = _marker(tmp_path, 'a'), _marker(tmp_path, 'b')
    mode = {'value': 'one'}

    def spec(_: object) -> WorkloadSpec:
        return WorkloadSpec(
            services=[
                ServiceSpec('a', _sleeper(a)),
                ServiceSpec('b', _sleeper(b), environment={'MODE': mode['value']}),
            ]
        )

    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    assert run_component(component, ctx)[1] == ops.ActiveStatus()
    pid_a, pid_b = service_pid(a), service_pid(b)

    mode['value'] = 'two'
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.replanned
    assert service_pid(a) == pid_a
    new_pid_b = service_pid(b)
    assert new_pid_b is not None
    assert new_pid_b != pid_b
    assert container.get_plan().services['b'].environment == {'MODE': 'two'}


def test_changed_file_restarts_exactly_the_services_that_declared_it(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    a, b, c = (_marker(tmp_path, name) for name in 'abc')
    first, second = tmp_path / 'first.conf', tmp_path / 'second.conf'
    content = {'first': 'one', 'second': 'one'}

    def spec(_: object) -> WorkloadSpec:
        return WorkloadSpec(
            services=[
                ServiceSpec('a', _sleeper(a), files=[str(first)]),
                ServiceSpec('b', _sleeper(b), files=[str(first), str(second)]),
                ServiceSpec('c', _sleeper(c)),
            ],
            files=[
                ContainerFile(str(first), content=content['first']),
                ContainerFile(str(second), content=content['second']),
            ],
        )

    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    run_component(component, ctx)
    pids = {name: service_pid(marker) for name, marker in zip('abc', (a, b, c), strict=True)}

    content['second'] = 'two'
    client.reset()
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.pushed_files == (str(second),)
    assert output.restarted == ('b',)
    assert not output.replanned
    assert second.read_text() == 'two'
    assert service_pid(a) == pids['a']
    assert service_pid(c) == pids['c']
    assert service_pid(b) not in (None, pids['b'])
    assert ('POST', '/v1/services', '') in client.requests  # the restart

    content['first'] = 'two'
    pids = {name: service_pid(marker) for name, marker in zip('abc', (a, b, c), strict=True)}
    output, _ = run_component(component, ctx)
    assert sorted(output.restarted) == ['a', 'b']
    assert service_pid(c) == pids['c']
    assert service_pid(a) not in (None, pids['a'])
    assert service_pid(b) not in (None, pids['b'])


def test_changed_file_sends_the_reload_signal_instead_of_restarting(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, _ = pebble_daemon.container()
    marker = _marker(tmp_path, 'hup')
    hups = tmp_path / 'hups.log'
    conf = tmp_path / 'reload.conf'
    script = (
        'import signal, sys, time\n'
        'signal.signal(signal.SIGHUP, lambda *_: open(sys.argv[1], "a").write("hup\\n"))\n'
        'time.sleep(100000)\n'
    )
    (tmp_path / 'hup.py').write_text(script)
    content = {'value': 'one'}

    def spec(_: object) -> WorkloadSpec:
        return WorkloadSpec(
            services=[
                ServiceSpec(
                    'reloader',
                    f'{PY} {tmp_path / "hup.py"} {hups} {marker}',
                    files=[str(conf)],
                    reload_signal='SIGHUP',
                )
            ],
            files=[ContainerFile(str(conf), content=content['value'])],
        )

    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    run_component(component, ctx)
    pid = service_pid(marker)
    assert not hups.exists()

    content['value'] = 'two'
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.signalled == ('reloader',)
    assert output.restarted == ()
    deadline = time.monotonic() + 5
    while not hups.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hups.read_text() == 'hup\n'
    assert service_pid(marker) == pid


@pytest.mark.parametrize('kind', ['exec', 'http'])
def test_failing_check_turns_waiting_and_recovery_turns_active(
    pebble_daemon: PebbleDaemon, tmp_path: Path, kind: str
) -> None:
    container, _ = pebble_daemon.container()
    site = tmp_path / 'site'
    site.mkdir()
    port = _free_port()
    services = [
        ServiceSpec(
            'server',
            f'{PY} -m http.server {port} --bind 127.0.0.1 --directory {site}',
        )
    ]
    if kind == 'exec':
        check = CheckSpec.exec('healthy', f'test -f {site / "healthy"}', period='100ms')
    else:
        check = CheckSpec.http('healthy', f'http://127.0.0.1:{port}/healthy', period='100ms')
    check = CheckSpec(**{**check.__dict__, 'threshold': 2})
    spec = WorkloadSpec(services=services, checks=[check])
    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())

    run_component(component, ctx)
    info = _wait_for_check(container, 'healthy', pebble.CheckStatus.DOWN)
    assert info.status == pebble.CheckStatus.DOWN
    _, status = run_component(component, ctx)
    assert isinstance(status, ops.WaitingStatus)
    assert status.message.startswith("check 'healthy' failing (")
    assert 'failures)' in status.message

    (site / 'healthy').write_text('ok')
    info = _wait_for_check(container, 'healthy', pebble.CheckStatus.UP)
    assert info.status == pebble.CheckStatus.UP
    _, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()


def test_a_service_that_exits_at_once_yields_a_status_not_a_crash(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, _ = pebble_daemon.container()
    ok = _marker(tmp_path, 'ok')
    spec = WorkloadSpec(
        services=[
            ServiceSpec('fine', _sleeper(ok)),
            ServiceSpec('broken', "sh -c 'echo config is wrong >&2; exit 3'"),
        ]
    )
    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())

    _, status = run_component(component, ctx)
    assert isinstance(status, ops.BlockedStatus)
    assert 'replanning the services failed' in status.message
    assert 'broken' in status.message
    assert 'code 3' in status.message
    assert 'config is wrong' in status.message
    assert service_pid(ok) is not None

    # The next hook: still a status (replan retried, fails again), never an exception.
    _, status = run_component(component, ctx)
    assert isinstance(status, (ops.BlockedStatus, ops.WaitingStatus))
    assert 'broken' in status.message


def test_exec_step_runs_once_per_input_change_and_reports_stderr(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, _ = pebble_daemon.container()
    log = tmp_path / 'migrations.log'
    inputs = {'version': 1, 'fail': False}

    def spec(_: object) -> WorkloadSpec:
        script = f'echo v{inputs["version"]} >> {log}'
        if inputs['fail']:
            script = 'echo relation \\"users\\" does not exist >&2; exit 2'
        return WorkloadSpec(
            steps=[ExecStep('migrate', ['sh', '-c', script], inputs={'v': inputs['version']})]
        )

    component = PebbleWorkload('db', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.steps_run == ('migrate',)
    output, _ = run_component(component, ctx)
    assert output.steps_run == ()
    assert log.read_text() == 'v1\n'

    inputs['version'] = 2
    output, _ = run_component(component, ctx)
    assert output.steps_run == ('migrate',)
    assert log.read_text() == 'v1\nv2\n'

    inputs.update(version=3, fail=True)
    _, status = run_component(component, ctx)
    assert status == ops.BlockedStatus(
        'step \'migrate\' failed with exit code 2: relation "users" does not exist'
    )
    _, status = run_component(component, ctx)  # retried, since it never succeeded
    assert isinstance(status, ops.BlockedStatus)
    inputs['fail'] = False
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.steps_run == ('migrate',)
    assert log.read_text() == 'v1\nv2\nv3\n'


def test_missing_template_variable_blocks_and_writes_nothing(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    good, bad = tmp_path / 'good.conf', tmp_path / 'bad.conf'
    spec = WorkloadSpec(
        files=[
            ContainerFile(str(good), content='fine'),
            ContainerFile.from_template(str(bad), 'listen $port\nhost $host\n', {'port': 80}),
        ]
    )
    component = PebbleWorkload('web', container='workload', spec=spec)
    _, status = run_component(component, make_context(container, DictState()))
    assert status == ops.BlockedStatus(f'file {bad}: template variable $host is not set')
    assert not good.exists()
    assert not bad.exists()
    assert client.mutating() == []


def test_permissions_and_owner_are_enforced(pebble_daemon: PebbleDaemon, tmp_path: Path) -> None:
    container, client = pebble_daemon.container()
    secret = tmp_path / 'secret.conf'
    spec = WorkloadSpec(
        files=[
            ContainerFile(str(secret), content='pw', permissions=0o600, user='root', group='root')
        ]
    )
    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    run_component(component, ctx)
    assert secret.stat().st_mode & 0o777 == 0o600

    secret.chmod(0o644)  # drift: someone loosened the mode
    client.reset()
    output, _ = run_component(component, ctx)
    assert output.pushed_files == (str(secret),)
    assert secret.stat().st_mode & 0o777 == 0o600
    client.reset()
    output, _ = run_component(component, ctx)
    assert output.pushed_files == ()
    assert client.mutating() == []


def test_unreachable_pebble_is_waiting(pebble_daemon: PebbleDaemon, tmp_path: Path) -> None:
    container, _ = pebble_daemon.container()
    pebble_daemon.stop()
    spec = WorkloadSpec(services=[ServiceSpec('a', _sleeper(_marker(tmp_path, 'gone')))])
    component = PebbleWorkload('web', container='workload', spec=spec)
    _, status = run_component(component, make_context(container, DictState()))
    assert status == ops.WaitingStatus("waiting for Pebble in container 'workload'")


def test_two_workloads_sharing_a_container_converge_and_then_write_nothing(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    a, b = _marker(tmp_path, 'a'), _marker(tmp_path, 'b')
    first = PebbleWorkload(
        'first', container='workload', spec=WorkloadSpec(services=[ServiceSpec('a', _sleeper(a))])
    )
    second = PebbleWorkload(
        'second', container='workload', spec=WorkloadSpec(services=[ServiceSpec('b', _sleeper(b))])
    )
    first_ctx = make_context(container, DictState())
    second_ctx = make_context(container, DictState())
    for component, ctx in ((first, first_ctx), (second, second_ctx)):
        assert run_component(component, ctx)[1] == ops.ActiveStatus()
    pids = (service_pid(a), service_pid(b))

    # Next hook: 'first' sees a plan that 'second' changed and re-adds its (unchanged) layer,
    # without a replan; nothing restarts.
    client.reset()
    for component, ctx in ((first, first_ctx), (second, second_ctx)):
        assert run_component(component, ctx)[1] == ops.ActiveStatus()
    assert client.mutating() == [('POST', '/v1/layers', '')]
    # The hook after: quiet.
    client.reset()
    for component, ctx in ((first, first_ctx), (second, second_ctx)):
        assert run_component(component, ctx)[1] == ops.ActiveStatus()
    assert client.mutating() == []
    assert (service_pid(a), service_pid(b)) == pids


def _wait_for_service(
    container: ops.Container, name: str, current: str, timeout: float = 15.0
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        info = container.get_services(name)[name]
        state = str(getattr(info.current, 'value', info.current))
        if state == current or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_a_service_that_exited_cleanly_under_on_success_ignore_is_not_run_again(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    runs = tmp_path / 'runs'
    # Lives past Pebble's 1 s okay-delay (a shorter one fails the start), then exits 0.
    once = f"{PY} -c \"import time; time.sleep(1.2); open('{runs}', 'a').write('x')\""
    spec = WorkloadSpec(services=[ServiceSpec('once', once, on_success='ignore')])
    component = PebbleWorkload('job', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert output.replanned
    assert _wait_for_service(container, 'once', 'inactive') == 'inactive'
    assert runs.read_text() == 'x'

    client.reset()
    for _ in range(2):
        output, status = run_component(component, ctx)
        assert status == ops.ActiveStatus()  # finished is healthy, not "not running"
        assert not output.replanned
    assert client.mutating() == []
    time.sleep(1.5)  # a re-run would have written by now
    assert runs.read_text() == 'x'


def _crashloop_spec(tmp_path: Path, conf: Path, content: str, *, signal: bool) -> WorkloadSpec:
    # The first start lives past the okay-delay (the replan succeeds); every later start exits
    # at once with 1, so Pebble keeps it in backoff with growing delays (0.5 s, 1 s, 2 s, ...).
    starts = tmp_path / 'starts'
    script = (
        'import os, sys, time\n'
        'first = not os.path.exists(sys.argv[1])\n'
        'open(sys.argv[1], "a").write("x")\n'
        'time.sleep(1.2 if first else 0)\n'
        'sys.exit(1)\n'
    )
    (tmp_path / 'crash.py').write_text(script)
    service = ServiceSpec(
        'crashy',
        f'{PY} {tmp_path / "crash.py"} {starts}',
        files=[str(conf)],
        reload_signal='SIGHUP' if signal else None,
    )
    return WorkloadSpec(services=[service], files=[ContainerFile(str(conf), content=content)])


@pytest.mark.parametrize('reload', ['signal', 'restart'])
def test_a_file_change_for_a_service_in_backoff_neither_signals_restarts_nor_replans(
    pebble_daemon: PebbleDaemon, tmp_path: Path, reload: str
) -> None:
    container, client = pebble_daemon.container()
    conf = tmp_path / 'crashy.conf'
    content = {'value': 'one'}

    def spec(_: object) -> WorkloadSpec:
        return _crashloop_spec(tmp_path, conf, content['value'], signal=reload == 'signal')

    component = PebbleWorkload('web', container='workload', spec=spec)
    state = DictState()
    ctx = make_context(container, state)
    assert run_component(component, ctx)[1] == ops.ActiveStatus()
    starts = tmp_path / 'starts'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(starts.read_text()) < 3:
        time.sleep(0.05)
    assert _wait_for_service(container, 'crashy', 'backoff') == 'backoff'  # now for 2 s

    content['value'] = 'two'
    client.reset()
    output = component.reconcile(ctx)  # a Pebble error here would raise a StatusError
    assert run_component(component, ctx)[1] == ops.WaitingStatus(
        "service 'crashy' is not running (backoff)"
    )
    assert (output.signalled, output.restarted, output.replanned) == ((), (), False)
    assert conf.read_text() == 'two'
    assert client.mutating() == [('POST', '/v1/files', '')]  # the push, nothing else
    # The pending reload was dropped, not kept for later: Pebble's next start reads the file.
    assert state.values.get('pending-file-restarts') == []


# ops logs stopping a check as a security event, through Juju's log handler, absent here.
@pytest.mark.filterwarnings('ignore:JujuLogHandler is not set up:RuntimeWarning')
def test_services_and_checks_dropped_from_the_spec_are_stopped_and_disabled(
    pebble_daemon: PebbleDaemon, tmp_path: Path
) -> None:
    container, client = pebble_daemon.container()
    a, b = _marker(tmp_path, 'a'), _marker(tmp_path, 'b')
    declare_a = {'value': True}

    def spec(_: object) -> WorkloadSpec:
        services = [ServiceSpec('b', _sleeper(b))]
        checks: list[CheckSpec] = []
        if declare_a['value']:
            services.insert(0, ServiceSpec('a', _sleeper(a)))
            checks.append(CheckSpec.exec('a-up', 'true', period='200ms'))
        return WorkloadSpec(services=services, checks=checks)

    component = PebbleWorkload('web', container='workload', spec=spec)
    ctx = make_context(container, DictState())
    assert run_component(component, ctx)[1] == ops.ActiveStatus()
    pid_a, pid_b = service_pid(a), service_pid(b)
    assert None not in (pid_a, pid_b)
    assert container.get_checks('a-up')['a-up'].status == pebble.CheckStatus.UP

    declare_a['value'] = False
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert service_pid(a) is None
    assert service_pid(b) == pid_b
    assert container.get_checks('a-up')['a-up'].status == pebble.CheckStatus.INACTIVE
    plan = container.get_plan()
    assert plan.services['a'].startup == 'disabled'
    assert plan.checks['a-up'].startup == pebble.CheckStartup.DISABLED
    assert (output.stopped, output.stopped_checks) == (('a',), ('a-up',))

    # Steady state with a dropped service: reads only, and 'a' stays stopped.
    client.reset()
    for _ in range(2):
        output, status = run_component(component, ctx)
        assert status == ops.ActiveStatus()
        assert (output.stopped, output.stopped_checks) == ((), ())
    assert client.mutating() == []
    assert service_pid(a) is None

    # Declared again: defined as before and started again; 'b' is left alone.
    declare_a['value'] = True
    output, status = run_component(component, ctx)
    assert status == ops.ActiveStatus()
    assert service_pid(a) not in (None, pid_a)
    assert service_pid(b) == pid_b
    assert container.get_plan().services['a'].startup == 'enabled'
    assert _wait_for_check(container, 'a-up', pebble.CheckStatus.UP).status == (
        pebble.CheckStatus.UP
    )
