"""Start a real etcd + kube-apiserver on loopback, envtest style (no nodes, no controllers).

Used by the functional tests' fixtures and by ``benchmarks/bench_kubernetes.py``. The binaries are
built from the Go module proxy by ``scripts/build-envtest.sh`` into
``${RECONCILE_LIBS_CACHE:-~/.cache/reconcile-libs}/bin/`` (``KUBE_APISERVER_BIN`` and ``ETCD_BIN``
override the lookup). Certificates come from the ``openssl`` CLI: a throwaway CA that signs the
serving certificate and one client certificate per user (``O=`` = groups), plus an RSA key that
signs service-account tokens. Authorization is RBAC; the admin user is in ``system:masters``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from lightkube import Client, KubeConfig

BUILD_SCRIPT = 'scripts/build-envtest.sh'


def cache_bin_dir() -> Path:
    """Directory where scripts/build-envtest.sh puts the binaries."""
    root = os.environ.get('RECONCILE_LIBS_CACHE') or str(Path.home() / '.cache' / 'reconcile-libs')
    return Path(root) / 'bin'


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r'\d+', path.name.rsplit('-v', 1)[-1]))


def find_binary(name: str, env_var: str) -> Path | None:
    """Return the newest cached ``<name>-v*`` binary (or the one named by ``env_var``)."""
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    candidates = [
        p for p in cache_bin_dir().glob(f'{name}-v*') if p.is_file() and os.access(p, os.X_OK)
    ]
    if not candidates:
        return None
    return max(candidates, key=_version_key)


def missing_binaries_reason() -> str | None:
    """None when both binaries exist, else a reason that names the build script."""
    missing = [
        name
        for name, env_var in (('kube-apiserver', 'KUBE_APISERVER_BIN'), ('etcd', 'ETCD_BIN'))
        if find_binary(name, env_var) is None
    ]
    if not missing:
        return None
    return (
        f'{" and ".join(missing)} not found in {cache_bin_dir()}; build them with {BUILD_SCRIPT} '
        '(needs Go and the Go module proxy)'
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(['openssl', *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class Certificates:
    """A throwaway PKI in ``directory``."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / 'ca.crt'

    @property
    def ca_key(self) -> Path:
        return self.directory / 'ca.key'

    def create(self) -> None:
        d = self.directory
        _openssl(
            'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=envtest-ca', cwd=d,
        )  # fmt: skip
        (d / 'serving.ext').write_text(
            'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        )
        self._issue('serving', '/CN=kube-apiserver', 'serving.ext')
        _openssl('genrsa', '-out', 'sa.key', '2048', cwd=d)
        _openssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub', cwd=d)

    def client(self, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """Issue a client certificate for ``user`` in ``groups``; returns (cert, key)."""
        stem = f'client-{re.sub(r"[^a-zA-Z0-9_.-]", "_", user)}'
        subject = ''.join(f'/O={group}' for group in groups) + f'/CN={user}'
        ext = self.directory / 'client.ext'
        ext.write_text('extendedKeyUsage=clientAuth\n')
        self._issue(stem, subject, 'client.ext')
        return self.directory / f'{stem}.crt', self.directory / f'{stem}.key'

    def _issue(self, stem: str, subject: str, extfile: str) -> None:
        d = self.directory
        _openssl('genrsa', '-out', f'{stem}.key', '2048', cwd=d)
        _openssl(
            'req', '-new', '-key', f'{stem}.key', '-out', f'{stem}.csr', '-subj', subject, cwd=d
        )
        _openssl(
            'x509', '-req', '-in', f'{stem}.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
            '-CAcreateserial', '-days', '2', '-extfile', extfile, '-out', f'{stem}.crt', cwd=d,
        )  # fmt: skip


@dataclass
class EnvTest:
    """A running etcd + kube-apiserver pair; use :func:`start_envtest` to create one."""

    directory: Path
    certs: Certificates
    url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=lambda: [])
    logs: list[Path] = field(default_factory=lambda: [])
    apiserver_version: str = ''

    def kubeconfig(
        self,
        user: str = 'admin',
        groups: tuple[str, ...] = ('system:masters',),
        namespace: str = 'default',
    ) -> dict[str, Any]:
        """A kubeconfig dict for ``user`` (a client certificate), usable with lightkube."""
        cert, key = self.certs.client(user, groups)
        return {
            'apiVersion': 'v1',
            'kind': 'Config',
            'clusters': [
                {
                    'name': 'envtest',
                    'cluster': {
                        'server': self.url,
                        'certificate-authority': str(self.certs.ca_cert),
                    },
                }
            ],
            'users': [
                {'name': user, 'user': {'client-certificate': str(cert), 'client-key': str(key)}}
            ],
            'contexts': [
                {
                    'name': user,
                    'context': {'cluster': 'envtest', 'user': user, 'namespace': namespace},
                }
            ],
            'current-context': user,
        }

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, and delete the working directory."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def tail_logs(self, lines: int = 30) -> str:
        out: list[str] = []
        for log in self.logs:
            if log.exists():
                text = log.read_text(errors='replace').splitlines()[-lines:]
                out.append(f'--- {log.name} ---\n' + '\n'.join(text))
        return '\n'.join(out)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open('wb')
    try:
        return subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        handle.close()


def _wait_http(
    url: str, context: ssl.SSLContext | None, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last = ''
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f'{proc.args!r} exited with {proc.returncode} before {url} was ready'
            )
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f'{url} not ready after {timeout:.0f} s (last error: {last})')


def start_envtest(timeout: float = 90.0) -> EnvTest:
    """Start etcd and kube-apiserver on free loopback ports and wait for ``/readyz``.

    Raises:
        FileNotFoundError: the binaries are missing (the message names the build script).
        RuntimeError / TimeoutError: a process died or did not become ready (logs attached).
    """
    reason = missing_binaries_reason()
    if reason:
        raise FileNotFoundError(reason)
    apiserver_bin = find_binary('kube-apiserver', 'KUBE_APISERVER_BIN')
    etcd_bin = find_binary('etcd', 'ETCD_BIN')
    assert apiserver_bin is not None
    assert etcd_bin is not None
    directory = Path(tempfile.mkdtemp(prefix='reconcile-libs-envtest-'))
    certs = Certificates(directory)
    certs.create()
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    env = EnvTest(directory, certs, f'https://127.0.0.1:{api_port}')
    env.apiserver_version = apiserver_bin.name.rsplit('-', 1)[-1]
    try:
        etcd_url = f'http://127.0.0.1:{etcd_port}'
        peer_url = f'http://127.0.0.1:{peer_port}'
        etcd_log = directory / 'etcd.log'
        env.logs.append(etcd_log)
        etcd = _spawn(
            [
                str(etcd_bin), '--name=default', f'--data-dir={directory / "etcd"}',
                f'--listen-client-urls={etcd_url}', f'--advertise-client-urls={etcd_url}',
                f'--listen-peer-urls={peer_url}', f'--initial-advertise-peer-urls={peer_url}',
                f'--initial-cluster=default={peer_url}', '--unsafe-no-fsync=true',
                '--log-level=warn',
            ],
            etcd_log,
        )  # fmt: skip
        env.processes.append(etcd)
        _wait_http(f'{etcd_url}/health', None, etcd, timeout)
        api_log = directory / 'kube-apiserver.log'
        env.logs.append(api_log)
        apiserver = _spawn(
            [
                str(apiserver_bin), f'--etcd-servers={etcd_url}',
                f'--secure-port={api_port}', '--bind-address=127.0.0.1',
                '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
                '--service-cluster-ip-range=10.0.0.0/24',
                '--allow-privileged=true', '--authorization-mode=RBAC',
                '--disable-admission-plugins=ServiceAccount',
                f'--service-account-issuer={env.url}',
                f'--service-account-key-file={directory / "sa.pub"}',
                f'--service-account-signing-key-file={directory / "sa.key"}',
                f'--client-ca-file={certs.ca_cert}',
                f'--tls-cert-file={directory / "serving.crt"}',
                f'--tls-private-key-file={directory / "serving.key"}',
                f'--cert-dir={directory / "apiserver-certs"}',
            ],
            api_log,
        )  # fmt: skip
        env.processes.append(apiserver)
        admin_cert, admin_key = certs.client('envtest-probe', ('system:masters',))
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        context.load_cert_chain(str(admin_cert), str(admin_key))
        _wait_http(f'{env.url}/readyz', context, apiserver, timeout)
    except BaseException as exc:
        logs = env.tail_logs()
        env.stop()
        if isinstance(exc, (RuntimeError, TimeoutError)):
            raise type(exc)(f'{exc}\n{logs}') from exc
        raise
    return env


# ---- lightkube clients for tests and benchmarks ------------------------------------------------


class RecordingTransport(httpx2.HTTPTransport):
    """An ordinary HTTPS transport that also records (method, path) of every request."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(verify=context)
        self.calls: list[tuple[str, str]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.calls.append((request.method, request.url.path))
        return super().handle_request(request)


def make_client(
    env: EnvTest,
    user: str = 'admin',
    groups: tuple[str, ...] = ('system:masters',),
    namespace: str = 'default',
    field_manager: str | None = None,
) -> tuple[Client, RecordingTransport]:
    """A lightkube Client for ``user`` whose requests are recorded by the returned transport."""
    config = env.kubeconfig(user, groups, namespace)
    user_entry = config['users'][0]['user']
    context = ssl.create_default_context(cafile=str(env.certs.ca_cert))
    context.load_cert_chain(user_entry['client-certificate'], user_entry['client-key'])
    transport = RecordingTransport(context)
    client = Client(KubeConfig.from_dict(config), field_manager=field_manager, transport=transport)
    return client, transport
