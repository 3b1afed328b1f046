"""Test infrastructure: a local stand-in for Charmhub's charm-libraries endpoints.

This is NOT a Charmhub implementation and is not shipped to users. It exists so that the real
`charmcraft` CLI (4.5.0) can run `fetch-lib`, `fetch-libs`, `list-lib` and `publish-lib`
end-to-end on a machine without Charmhub: charmcraft is pointed at it with
`CHARMCRAFT_STORE_API_URL=http://127.0.0.1:<port>` (see `charmcraft_env`).

It implements only the calls charmcraft 4.5.0 makes for libraries, with the JSON shapes its
client parses (`charmcraft/store/client.py`, `store/store.py`, `store/models.py`):

- `POST /v1/charm/libraries/bulk` with a list of queries, each either
  `{"charm-name"[, "library-name"][, "api"][, "patch"]}` or `{"library-id"[, "api"]}`; answers
  `{"libraries": [...]}` with the tip (highest patch) of each matching (library-id, api), or the
  exact `patch` when one is asked for. No `content` in these.
- `GET /v1/charm/libraries/<charm>/<library-id>?api=N[&patch=M]`: one library with `content`.
- `POST /v1/charm/libraries/<charm>/<library-id>` with `{"api", "patch", "content", "hash"}`:
  stores a new revision (publish-lib). Needs an `Authorization: Macaroon ...` header, like the
  real store; any credentials are accepted. It also applies the store's own rules (the patch must
  be the tip's + 1 and the hash must match the content), so a client that skipped its checks would
  be refused here too.

Errors use the store's `{"error-list": [{"code", "message"}]}` shape. Every request is recorded in
`requests` so tests can assert what charmcraft sent (for example that a refused publish sent
nothing). The server binds 127.0.0.1 on a free port and runs in a daemon thread.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

LIBRARIES_PREFIX = '/v1/charm/libraries/'


def content_hash(content: bytes) -> str:
    """Charmcraft 4.5's library content hash (utils/charmlibs.py:get_lib_internals).

    SHA-256 over the file's lines with CRLF folded to LF, skipping the lines that start with
    LIBAPI, LIBPATCH or LIBID.
    """
    digest = hashlib.sha256()
    for line in content.splitlines(keepends=True):
        line = line.replace(b'\r\n', b'\n')
        if line.startswith((b'LIBAPI', b'LIBPATCH', b'LIBID')):
            continue
        digest.update(line)
    return digest.hexdigest()


_FIELD = re.compile(r'^(LIBID|LIBAPI|LIBPATCH)\s*=\s*(.+?)\s*$', re.MULTILINE)


def lib_fields(content: str) -> tuple[str, int, int]:
    """LIBID, LIBAPI and LIBPATCH of a lib file's text (top-level `NAME = value` lines)."""
    found: dict[str, str] = {}
    for name, value in _FIELD.findall(content):
        found[name] = value.strip('\'"')
    return found['LIBID'], int(found['LIBAPI']), int(found['LIBPATCH'])


@dataclasses.dataclass(frozen=True)
class LibRevision:
    """One stored revision of a library, as the store describes it."""

    charm_name: str
    library_name: str
    library_id: str
    api: int
    patch: int
    content: str

    @property
    def hash(self) -> str:
        return content_hash(self.content.encode())

    def to_json(self, *, with_content: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            'charm-name': self.charm_name,
            'library-name': self.library_name,
            'library-id': self.library_id,
            'api': self.api,
            'patch': self.patch,
            'hash': self.hash,
        }
        if with_content:
            body['content'] = self.content
        return body


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    body: Any


class StoreError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LibraryStore:
    """The stand-in's data: every revision of every library, and the requests it saw."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revisions: list[LibRevision] = []
        self.requests: list[RecordedRequest] = []

    # -- loading --------------------------------------------------------------------------

    def add_file(self, path: Path, *, charm_name: str) -> LibRevision:
        """Serve the lib file at `path` (lib/charms/<owner>/vN/<name>.py) as a revision."""
        return self.add_content(path.read_text(encoding='utf-8'), path.stem, charm_name=charm_name)

    def add_content(self, content: str, library_name: str, *, charm_name: str) -> LibRevision:
        library_id, api, patch = lib_fields(content)
        revision = LibRevision(charm_name, library_name, library_id, api, patch, content)
        with self._lock:
            self._revisions.append(revision)
        return revision

    # -- queries --------------------------------------------------------------------------

    def revisions(self) -> list[LibRevision]:
        with self._lock:
            return list(self._revisions)

    def published(self) -> list[RecordedRequest]:
        """The publish requests (POST to a single library) the stand-in received."""
        return [
            r for r in self.requests if r.method == 'POST' and r.path != f'{LIBRARIES_PREFIX}bulk'
        ]

    def tip(self, library_id: str, api: int) -> LibRevision | None:
        matching = [r for r in self.revisions() if r.library_id == library_id and r.api == api]
        return max(matching, key=lambda r: r.patch, default=None)

    def _tips(self, matching: list[LibRevision], patch: int | None) -> Iterator[LibRevision]:
        keys = sorted({(r.library_id, r.api) for r in matching})
        for library_id, api in keys:
            candidates = [r for r in matching if r.library_id == library_id and r.api == api]
            if patch is not None:
                candidates = [r for r in candidates if r.patch == patch]
            if candidates:
                yield max(candidates, key=lambda r: r.patch)

    def bulk(self, queries: list[Mapping[str, Any]]) -> list[LibRevision]:
        found: list[LibRevision] = []
        for query in queries:
            matching = [r for r in self.revisions() if _matches(r, query)]
            found.extend(self._tips(matching, query.get('patch')))
        return found

    def get(self, charm: str, library_id: str, api: int | None, patch: int | None) -> LibRevision:
        matching = [
            r
            for r in self.revisions()
            if r.charm_name == charm
            and r.library_id == library_id
            and (api is None or r.api == api)
        ]
        tips = list(self._tips(matching, patch))
        if not tips:
            raise StoreError(404, 'resource-not-found', f'library {library_id} not found')
        return max(tips, key=lambda r: (r.api, r.patch))

    def publish(self, charm: str, library_id: str, body: Mapping[str, Any]) -> LibRevision:
        api, patch, content = int(body['api']), int(body['patch']), str(body['content'])
        if content_hash(content.encode()) != body.get('hash'):
            raise StoreError(400, 'invalid-hash', 'hash does not match the content')
        tip = self.tip(library_id, api)
        if tip is not None and tip.charm_name != charm:
            raise StoreError(403, 'forbidden', f'library {library_id} belongs to another charm')
        if tip is not None and patch != tip.patch + 1:
            raise StoreError(400, 'invalid-patch', f'patch must be {tip.patch + 1}, got {patch}')
        if tip is None:
            # Charmhub no longer registers new libraries; the stand-in only knows preloaded ones.
            raise StoreError(404, 'resource-not-found', f'library {library_id} not registered')
        fields = lib_fields(content)
        if fields != (library_id, api, patch):
            raise StoreError(400, 'invalid-content', f'content declares {fields}')
        revision = LibRevision(charm, tip.library_name, library_id, api, patch, content)
        with self._lock:
            self._revisions.append(revision)
        return revision


def _matches(revision: LibRevision, query: Mapping[str, Any]) -> bool:
    checks = {
        'charm-name': revision.charm_name,
        'library-name': revision.library_name,
        'library-id': revision.library_id,
        'api': revision.api,
    }
    return all(query[key] == value for key, value in checks.items() if key in query)


class _Handler(http.server.BaseHTTPRequestHandler):
    store: LibraryStore  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `LibraryStore.requests` instead of stderr."""

    def do_GET(self) -> None:
        self._dispatch('GET')

    def do_POST(self) -> None:
        self._dispatch('POST')

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        auth = self.headers.get('Authorization')
        self.store.requests.append(RecordedRequest(method, url.path, auth, body))
        try:
            status, payload = self._route(method, url, body, auth)
        except StoreError as error:
            status = error.status
            payload = {'error-list': [{'code': error.code, 'message': error.message}]}
        except (KeyError, TypeError, ValueError) as error:
            status = 400
            payload = {'error-list': [{'code': 'bad-request', 'message': repr(error)}]}
        self._reply(status, payload)

    def _route(
        self, method: str, url: urllib.parse.SplitResult, body: Any, auth: str | None
    ) -> tuple[int, Any]:
        if not url.path.startswith(LIBRARIES_PREFIX):
            raise StoreError(404, 'not-found', f'no such endpoint {url.path}')
        parts = url.path[len(LIBRARIES_PREFIX) :].split('/')
        if method == 'POST' and parts == ['bulk']:
            libraries = self.store.bulk(body)
            return 200, {'libraries': [r.to_json(with_content=False) for r in libraries]}
        if len(parts) != 2:
            raise StoreError(404, 'not-found', f'no such endpoint {url.path}')
        charm, library_id = parts
        if method == 'GET':
            query = urllib.parse.parse_qs(url.query)
            api = int(query['api'][0]) if 'api' in query else None
            patch = int(query['patch'][0]) if 'patch' in query else None
            return 200, self.store.get(charm, library_id, api, patch).to_json(with_content=True)
        if not (auth or '').startswith('Macaroon '):
            raise StoreError(401, 'macaroon-needs-refresh', 'authentication required')
        return 200, self.store.publish(charm, library_id, body).to_json(with_content=False)

    def _read_body(self) -> Any:
        length = int(self.headers.get('Content-Length') or 0)
        if not length:
            return None
        return json.loads(self.rfile.read(length))

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class CharmhubStandIn:
    """The HTTP server: `with CharmhubStandIn() as hub: hub.store.add_file(...)`."""

    def __init__(self) -> None:
        self.store = LibraryStore()
        handler = type('Handler', (_Handler,), {'store': self.store})
        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}'

    def __enter__(self) -> CharmhubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def charmcraft_env(store_url: str, runtime_dir: Path) -> dict[str, str]:
    """The environment that points the real charmcraft at the stand-in, offline.

    `CHARMCRAFT_AUTH` is base64 of any string: charmcraft sends it verbatim as
    `Authorization: Macaroon <decoded>`, and only publish-lib needs it. `CRAFT_STORE_RETRIES=0`
    makes a failed call fail at once instead of retrying with back-off. `XDG_RUNTIME_DIR` must be
    a private (0700) directory or platformdirs warns.
    """
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(('CHARMCRAFT_', 'CRAFT_')):
            del env[name]
    env.update(
        CHARMCRAFT_STORE_API_URL=store_url,
        CHARMCRAFT_AUTH=base64.b64encode(b'reconcile-libs-standin').decode(),
        CRAFT_STORE_RETRIES='0',
        XDG_RUNTIME_DIR=str(runtime_dir),
    )
    return env
