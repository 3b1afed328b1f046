"""A local sandbox for the example charms: ops.testing hooks, real Pebble, real relation data.

Used by `scripts/demo.py` (the README's main job) and `benchmarks/bench_charms.py`. Nothing here
is a library: it is the test bench that lets both example charms run on one machine.

- Each unit is an `ops.testing.Context` plus the unit's current `State`; every hook is a real
  dispatch through ops (`ctx(event, state)` + `run()`), and the output state is kept for the next.
- Each workload container gets a real Pebble daemon when a `pebble` binary is available
  (`scripts/build-pebble.sh` builds it), so services are real processes. A container's
  filesystem is a directory: `SandboxPebbleClient` maps the absolute paths the charm uses (file
  pushes, service and exec working directories) into it. Without a binary the containers stay
  simulated by ops.testing, and the sandbox says so.
- Relations are wired by copying each side's application and unit databags into the other side's
  remote data after every hook.
- A real kube-apiserver + etcd (envtest style) serves the Kubernetes component when
  `scripts/build-envtest.sh` has built them; `KUBECONFIG` points the charms' default lightkube
  client at it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'lib'), str(ROOT)]

import ops  # noqa: E402
import yaml  # noqa: E402
from ops import pebble, testing  # noqa: E402

from tests.functional.pebble.pebble_daemon import (  # noqa: E402
    JUJU_PEBBLE,
    PebbleDaemon,
    RecordingClient,
    newest_built_version,
    pebble_binary,
)

MODEL = 'demo'


def find_pebble() -> tuple[Path, str] | None:
    """The newest cached Pebble build, else Juju's version, else a `pebble` on PATH."""
    for version in (newest_built_version(), JUJU_PEBBLE):
        binary = pebble_binary(version)
        if binary.exists():
            return binary, version
    on_path = shutil.which('pebble')
    return (Path(on_path), 'from PATH') if on_path else None


class SandboxPebbleClient(RecordingClient):
    """The real Pebble client, with the container's `/` mapped to a directory of this machine."""

    def __init__(self, socket_path: str, root: Path) -> None:
        super().__init__(socket_path)
        self.root = root

    def to_host(self, path: str | os.PathLike[str]) -> str:
        return str(self.root / str(path).lstrip('/'))

    def to_container(self, path: str) -> str:
        return (
            '/' + str(Path(path).relative_to(self.root))
            if path.startswith(str(self.root))
            else path
        )

    def push(self, path: Any, source: Any, **kwargs: Any) -> None:
        super().push(self.to_host(path), source, **kwargs)

    def pull(self, path: Any, **kwargs: Any) -> Any:
        return super().pull(self.to_host(path), **kwargs)

    def list_files(self, path: Any, **kwargs: Any) -> list[pebble.FileInfo]:
        return [self._unmap(info) for info in super().list_files(self.to_host(path), **kwargs)]

    def _unmap(self, info: pebble.FileInfo) -> pebble.FileInfo:
        return pebble.FileInfo(
            path=self.to_container(info.path),
            name=info.name,
            type=info.type,
            size=info.size,
            permissions=info.permissions,
            last_modified=info.last_modified,
            user_id=info.user_id,
            user=info.user,
            group_id=info.group_id,
            group=info.group,
        )

    def make_dir(self, path: Any, **kwargs: Any) -> None:
        super().make_dir(self.to_host(path), **kwargs)

    def remove_path(self, path: Any, **kwargs: Any) -> None:
        super().remove_path(self.to_host(path), **kwargs)

    def exec(self, command: list[str], **kwargs: Any) -> Any:
        if kwargs.get('working_dir'):
            kwargs['working_dir'] = self.to_host(kwargs['working_dir'])
        return super().exec(command, **kwargs)

    def add_layer(self, label: str, layer: Any, *, combine: bool = False) -> None:
        raw: dict[str, Any]
        if isinstance(layer, str):
            raw = yaml.safe_load(layer) or {}
        elif isinstance(layer, pebble.Layer):
            raw = layer.to_dict()  # type: ignore[assignment]
        else:
            raw = json.loads(json.dumps(layer))
        for service in (raw.get('services') or {}).values():
            if service.get('working-dir'):
                service['working-dir'] = self.to_host(service['working-dir'])
        super().add_layer(label, raw, combine=combine)  # type: ignore[arg-type]

    def get_plan(self) -> pebble.Plan:
        plan: dict[str, Any] = dict(super().get_plan().to_dict())
        for service in (plan.get('services') or {}).values():
            if service.get('working-dir'):
                service['working-dir'] = self.to_container(service['working-dir'])
        return pebble.Plan(yaml.safe_dump(dict(plan)))


@dataclasses.dataclass
class Unit:
    """One unit of one application: its ops.testing Context, State and real containers."""

    name: str
    ctx: testing.Context[Any]
    state: testing.State
    clients: dict[str, SandboxPebbleClient]
    last_conditions: list[Any] = dataclasses.field(default_factory=list[Any])

    @property
    def app(self) -> str:
        return self.name.split('/')[0]

    def run(self, event: Callable[[testing.Context[Any]], Any]) -> testing.State:
        """Dispatch one hook through ops and keep the resulting state."""
        with self.ctx(event(self.ctx), self.state) as manager:
            charm = manager.charm
            for container_name, client in self.clients.items():
                # The one place the sandbox reaches inside ops: the container's Pebble client.
                charm.unit.get_container(container_name)._pebble = client
            self.state = manager.run()
            self.last_conditions = list(charm.reconciler.conditions)
        return self.state


def load_charm(charm_dir: Path) -> type[ops.CharmBase]:
    """Import an example charm's `src/charm.py` under a name of its own."""
    module_name = charm_dir.name.replace('-', '_') + '_charm'
    spec = importlib.util.spec_from_file_location(module_name, charm_dir / 'src' / 'charm.py')
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ops.CharmBase)
        and value is not ops.CharmBase
        and value.__module__ == module_name
    )


class Sandbox:
    """Starts Pebble daemons (and an API server when available); stops everything at exit."""

    def __init__(self, workdir: Path, *, real_pebble: bool = True) -> None:
        self.workdir = workdir
        self.pebble = find_pebble() if real_pebble else None
        self.daemons: list[PebbleDaemon] = []
        self.envtest: Any = None
        self.kubernetes_note = ''

    def start_kubernetes(self) -> bool:
        """Start kube-apiserver + etcd if built; point KUBECONFIG at them. False if not built."""
        from tests.functional.kubernetes import k8s_envtest

        reason = k8s_envtest.missing_binaries_reason()
        if reason:
            self.kubernetes_note = reason
            return False
        self.envtest = k8s_envtest.start_envtest()
        kubeconfig = self.workdir / 'kubeconfig.json'
        kubeconfig.write_text(json.dumps(self.envtest.kubeconfig(namespace=MODEL)))
        os.environ['KUBECONFIG'] = str(kubeconfig)
        client, _ = k8s_envtest.make_client(self.envtest)
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import Namespace

        client.create(Namespace(metadata=ObjectMeta(name=MODEL)))
        self.kubernetes_note = (
            f'kube-apiserver {self.envtest.apiserver_version} on {self.envtest.url}'
        )
        return True

    def unit(
        self,
        charm_type: type[ops.CharmBase],
        charm_dir: Path,
        unit_name: str,
        *,
        leader: bool,
        config: Mapping[str, Any] | None = None,
        real_containers: bool = True,
    ) -> Unit:
        app, number = unit_name.split('/')
        meta = yaml.safe_load((charm_dir / 'charmcraft.yaml').read_text())
        # The whole charmcraft.yaml, passed explicitly: a demo subclass of a charm lives outside
        # the charm's directory, where ops.testing would not find it.
        ctx = testing.Context(charm_type, meta=meta, app_name=app, unit_id=int(number))
        containers: set[testing.Container] = set()
        clients: dict[str, SandboxPebbleClient] = {}
        for container_name in meta.get('containers', {}):
            containers.add(testing.Container(container_name, can_connect=True))
            if self.pebble and real_containers:
                clients[container_name] = self._start_pebble(unit_name, container_name)
        state = testing.State(
            leader=leader,
            config=dict(config or {}),
            containers=containers,
            model=testing.Model(name=MODEL),
        )
        return Unit(unit_name, ctx, state, clients)

    def _start_pebble(self, unit_name: str, container: str) -> SandboxPebbleClient:
        assert self.pebble is not None
        binary, version = self.pebble
        base = self.workdir / unit_name.replace('/', '-') / container
        daemon = PebbleDaemon.start(binary, version, base / 'pebble')
        self.daemons.append(daemon)
        root = base / 'root'
        root.mkdir(parents=True, exist_ok=True)
        return SandboxPebbleClient(daemon.socket_path, root)

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        if self.envtest is not None:
            self.envtest.stop()


@contextlib.contextmanager
def sandbox(*, real_pebble: bool = True, kubernetes: bool = True) -> Iterator[Sandbox]:
    workdir = Path(tempfile.mkdtemp(prefix='reconcile-libs-sandbox-'))
    box = Sandbox(workdir, real_pebble=real_pebble)
    try:
        if kubernetes:
            box.start_kubernetes()
        yield box
    finally:
        box.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclasses.dataclass
class Link:
    """A relation between two applications' units: `provider` side and `requirer` side."""

    provider: list[Unit]
    provider_endpoint: str
    requirer: list[Unit]
    requirer_endpoint: str
    relation_id: int

    def add(self) -> None:
        """Create the relation on every unit of both sides (empty databags)."""
        for units, endpoint, remote in (
            (self.provider, self.provider_endpoint, self.requirer),
            (self.requirer, self.requirer_endpoint, self.provider),
        ):
            for unit in units:
                relation = testing.Relation(
                    endpoint,
                    id=self.relation_id,
                    remote_app_name=remote[0].app,
                    remote_units_data={int(r.name.split('/')[1]): {} for r in remote},
                )
                unit.state = dataclasses.replace(
                    unit.state, relations={*unit.state.relations, relation}
                )

    def relation_of(self, unit: Unit) -> testing.Relation:
        return cast(testing.Relation, unit.state.get_relation(self.relation_id))

    def sync(self) -> None:
        """Copy each side's databags into the other side's remote data."""
        for source, target in ((self.provider, self.requirer), (self.requirer, self.provider)):
            leader = next((u for u in source if u.state.leader), source[0])
            app_data = dict(self.relation_of(leader).local_app_data)
            units_data = {
                int(u.name.split('/')[1]): dict(self.relation_of(u).local_unit_data)
                for u in source
            }
            for unit in target:
                relation = dataclasses.replace(
                    self.relation_of(unit), remote_app_data=app_data, remote_units_data=units_data
                )
                relations = {r for r in unit.state.relations if r.id != self.relation_id}
                unit.state = dataclasses.replace(unit.state, relations={*relations, relation})

    def app_data(self, unit: Unit) -> dict[str, str]:
        return dict(self.relation_of(unit).local_app_data)
