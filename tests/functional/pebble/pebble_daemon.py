"""Real Pebble daemons for the functional tests and the benchmark (no Juju, no mocks).

`PebbleDaemon.start(binary, state_dir)` runs `pebble run --create-dirs --hold` with
`PEBBLE=<state_dir>` and waits for its socket; `daemon.container()` is a real `ops.Container`
whose client talks to that daemon (the pathops trick: `ops.Container(name, backend,
pebble_client=...)`). `RecordingClient` is the real `ops.pebble.Client`, recording every HTTP
request it sends, so a test can count what a reconcile asked of Pebble.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import time
from collections.abc import Generator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import ops
from charms.reconcile_libs.v0.reconciler import Component, ReconcileContext, StatusError
from ops import pebble

JUJU_PEBBLE = 'v1.26.0'
"""The Pebble Juju 3.6 and 4.0 ship."""
NEWEST_PEBBLE_PIN = 'v1.32.2'
"""scripts/build-pebble.sh's fallback for the newest release when the proxy lists no versions."""


def cache_bin_dir() -> Path:
    root = os.environ.get('RECONCILE_LIBS_CACHE') or str(Path.home() / '.cache' / 'reconcile-libs')
    return Path(root) / 'bin'


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip('v').split('.') if part.isdigit())


def newest_built_version() -> str:
    """The newest Pebble build-pebble.sh left in the cache (it asks the Go proxy for the newest
    release), or the pinned fallback when none is built (the tests then skip, naming it)."""
    built = [
        path.parent.name.removeprefix('pebble-')
        for path in cache_bin_dir().glob('pebble-v*/pebble')
        if re.fullmatch(r'pebble-v\d+\.\d+\.\d+', path.parent.name)
    ]
    newer = [version for version in built if _version_key(version) > _version_key(JUJU_PEBBLE)]
    return max(newer, key=_version_key) if newer else NEWEST_PEBBLE_PIN


VERSIONS = (JUJU_PEBBLE, newest_built_version())


def pebble_binary(version: str) -> Path:
    return cache_bin_dir() / f'pebble-{version}' / 'pebble'


class RecordingClient(pebble.Client):
    """The real Pebble client, recording `(HTTP method, path, action)` of every request."""

    def __init__(self, socket_path: str) -> None:
        super().__init__(socket_path=socket_path)
        self.requests: list[tuple[str, str, str]] = []

    def _request_raw(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        data: bytes | Generator[bytes, Any, Any] | None = None,
    ) -> Any:
        action = str((query or {}).get('action', ''))
        self.requests.append((method, path, action))
        return super()._request_raw(method, path, query, headers, data)

    def mutating(self) -> list[tuple[str, str, str]]:
        return [request for request in self.requests if request[0] != 'GET']

    def reset(self) -> None:
        self.requests.clear()


@dataclasses.dataclass
class PebbleDaemon:
    version: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def socket_path(self) -> str:
        return str(self.state_dir / '.pebble.socket')

    @classmethod
    def start(cls, binary: Path, version: str, state_dir: Path) -> PebbleDaemon:
        state_dir.mkdir(parents=True, exist_ok=True)
        log_path = state_dir.parent / f'pebble-{version}.log'
        env = {**os.environ, 'PEBBLE': str(state_dir)}
        with log_path.open('wb') as log:
            process = subprocess.Popen(
                [str(binary), 'run', '--create-dirs', '--hold'],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        daemon = cls(version, state_dir, process, log_path)
        daemon._wait_ready()
        return daemon

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        client = pebble.Client(socket_path=self.socket_path)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'pebble exited early: {self.log_path.read_text()}')
            if Path(self.socket_path).exists():
                try:
                    client.get_system_info()
                    return
                except (pebble.ConnectionError, pebble.APIError):
                    pass
            time.sleep(0.05)
        raise RuntimeError(f'pebble did not answer within {timeout}s: {self.log_path.read_text()}')

    def client(self) -> RecordingClient:
        return RecordingClient(self.socket_path)

    def container(self, name: str = 'workload') -> tuple[ops.Container, RecordingClient]:
        client = self.client()
        backend = SimpleNamespace(_juju_context=SimpleNamespace(version=ops.JujuVersion('3.6.14')))
        return ops.Container(name, cast(Any, backend), pebble_client=client), client

    def stop(self) -> None:
        """SIGTERM Pebble (it stops its services), then SIGKILL the whole session if needed."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=5)


class DictState:
    """`ctx.state` for components run outside a charm: a dict, counting real writes."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self.values.get(key) != value:
            self.values[key] = value
            self.writes += 1


def make_context(container: ops.Container, state: DictState) -> ReconcileContext:
    """A reconcile context whose charm hands out the given real container.

    The component under test reads only `ctx.charm.unit.get_container(...)` and `ctx.state`.
    """
    unit = SimpleNamespace(get_container=lambda name: container)
    namespace = SimpleNamespace(
        charm=SimpleNamespace(unit=unit), event=None, is_leader=True, state=state
    )
    return cast(ReconcileContext, namespace)


def run_component(component: Component[Any], ctx: ReconcileContext) -> tuple[Any, ops.StatusBase]:
    """Reconcile then status, the way CharmReconciler does: a StatusError becomes the status."""
    try:
        output = component.reconcile(ctx)
        status = component.status(ctx)
    except StatusError as error:
        return None, error.status
    return output, status


def service_pid(command_marker: str) -> int | None:
    """The PID of the live process whose command line contains `command_marker`."""
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        # Skip zombies: a process that exited but was not reaped yet is not running.
        if command_marker in cmdline and ') Z ' not in stat:
            return int(entry.name)
    return None
