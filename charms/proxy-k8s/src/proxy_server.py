"""The proxy-k8s workload: a small HTTP reverse proxy (standard library only).

The charm pushes this file into the `proxy` container and runs
`python3 proxy_server.py upstream.json` under Pebble. The JSON file holds the listen port and
the upstream URL; the charm rewrites it (and Pebble restarts the proxy) when either changes.
`GET /-/health` answers 200 without touching the upstream (Pebble's check uses it).

`PROXY_RESOLVE=host=address[,host=address]` in the environment makes the proxy connect to
`address` for `host` while still sending `Host: host` (like `curl --resolve`): a way to test it
where cluster DNS does not exist, such as the repository's local sandbox demo.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

HOP_BY_HOP = {
    'connection',
    'keep-alive',
    'transfer-encoding',
    'te',
    'trailer',
    'upgrade',
    'proxy-authorization',
    'proxy-authenticate',
    'host',
}


def resolve_overrides(spec: str) -> dict[str, str]:
    """Parse `host=address,host2=address2` (the PROXY_RESOLVE variable)."""
    pairs = (item.split('=', 1) for item in spec.split(',') if '=' in item)
    return {host.strip(): address.strip() for host, address in pairs}


def connect_url(upstream: str, overrides: dict[str, str]) -> tuple[str, str | None]:
    """The URL to connect to and the Host header to send (None: the URL's own host)."""
    parts = urllib.parse.urlsplit(upstream)
    address = overrides.get(parts.hostname or '')
    if address is None:
        return upstream, None
    netloc = f'{address}:{parts.port}' if parts.port else address
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), parts.netloc


def make_handler(upstream: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler class forwarding every request to `upstream` (an http(s) URL)."""
    target, host_header = connect_url(
        upstream, resolve_overrides(os.environ.get('PROXY_RESOLVE', ''))
    )

    class ProxyHandler(http.server.BaseHTTPRequestHandler):
        server_version = 'proxy-k8s/1'

        def do_GET(self) -> None:
            if self.path == '/-/health':
                self._reply(200, b'ok\n', {'Content-Type': 'text/plain'})
                return
            self._forward()

        def do_HEAD(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def _forward(self) -> None:
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if host_header:
                headers['Host'] = host_header
            # main() only accepts http(s) upstreams, so no file: or custom scheme gets here.
            request = urllib.request.Request(  # noqa: S310
                target + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    self._reply(response.status, response.read(), dict(response.headers))
            except urllib.error.HTTPError as error:
                self._reply(error.code, error.read(), dict(error.headers))
            except (urllib.error.URLError, OSError) as error:
                self._reply(
                    502,
                    f'upstream {upstream} unreachable: {error}\n'.encode(),
                    {'Content-Type': 'text/plain'},
                )

        def _reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for key, value in headers.items():
                if key.lower() not in HOP_BY_HOP | {'content-length'}:
                    self.send_header(key, value)
            self.send_header('Content-Length', str(len(body)))
            self.send_header('Via', '1.1 proxy-k8s')
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(body)

    return ProxyHandler


def main() -> None:
    """Serve on the configured port until killed (Pebble stops it with SIGTERM)."""
    with open(sys.argv[1]) as file:
        config = json.load(file)
    upstream = str(config['upstream']).rstrip('/')
    if not upstream.startswith(('http://', 'https://')):
        sys.exit(f'upstream must be an http(s) URL, not {upstream!r}')
    # A proxy in a pod listens on every interface: the pod's Service sends traffic to its IP.
    listen = ('0.0.0.0', int(config['port']))  # noqa: S104
    server = http.server.ThreadingHTTPServer(listen, make_handler(upstream))
    print(f'proxying :{config["port"]} -> {config["upstream"]}', flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
