"""The proxy-k8s workload: a small HTTP reverse proxy (standard library only).

The charm pushes this file into the `proxy` container and runs
`python3 proxy_server.py upstream.json` under Pebble. The JSON file holds the listen port and
the upstream URL; the charm rewrites it (and Pebble restarts the proxy) when either changes.
`GET /-/health` answers 200 without touching the upstream (Pebble's check uses it).
"""

from __future__ import annotations

import http.server
import json
import sys
import urllib.error
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


def make_handler(upstream: str) -> type[http.server.BaseHTTPRequestHandler]:
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
            request = urllib.request.Request(
                upstream + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
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
    with open(sys.argv[1]) as file:
        config = json.load(file)
    server = http.server.ThreadingHTTPServer(
        ('0.0.0.0', int(config['port'])), make_handler(str(config['upstream']).rstrip('/'))
    )
    print(f'proxying :{config["port"]} -> {config["upstream"]}', flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()
