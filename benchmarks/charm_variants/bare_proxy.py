"""proxy-k8s's per-unit work written as a bare ops charm: the baseline for proxy-k8s.

It reads the provider's `v2` payload (plain `json.loads`, no negotiation, no validation beyond
key access), pushes the proxy program and its upstream file when they differ, adds the same layer
and check, replans, opens the port. Run as a non-leader, like the reconcile-libs charm it is
compared with (whose only leader-only component manages a Kubernetes object).
"""

from __future__ import annotations

import json
from pathlib import Path

import ops

PROXY_DIR = '/srv/proxy'


class BareProxyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        for event in (
            self.on.install,
            self.on.config_changed,
            self.on.update_status,
            self.on.proxy_pebble_ready,
            self.on.backend_relation_changed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _upstream(self) -> str | None:
        relation = self.model.get_relation('backend')
        if relation is None or relation.app is None or 'v2' not in relation.data[relation.app]:
            return None
        service = json.loads(relation.data[relation.app]['v2'])
        return f'http://{service["name"]}.{service["namespace"]}.svc:{service["ports"][0]["port"]}'

    def _reconcile(self, event: ops.EventBase) -> None:
        port = int(self.config['port'])
        upstream = self._upstream()
        container = self.unit.get_container('proxy')
        if upstream is None or not container.can_connect():
            return
        program = (Path(self.charm_dir) / 'src' / 'proxy_server.py').read_text()
        files = {
            f'{PROXY_DIR}/proxy_server.py': program,
            f'{PROXY_DIR}/upstream.json': json.dumps({'port': port, 'upstream': upstream}),
        }
        changed = False
        for path, content in files.items():
            current = None
            if container.exists(path):
                with container.pull(path) as file:
                    current = file.read()
            if current != content:
                container.push(path, content, make_dirs=True, permissions=0o644)
                changed = True
        container.add_layer(
            'proxy',
            {
                'services': {
                    'proxy': {
                        'override': 'replace',
                        'startup': 'enabled',
                        'command': 'python3 proxy_server.py upstream.json',
                        'working-dir': PROXY_DIR,
                    }
                },
                'checks': {
                    'proxy-up': {
                        'override': 'replace',
                        'level': 'ready',
                        'http': {'url': f'http://localhost:{port}/-/health'},
                    }
                },
            },
            combine=True,
        )
        container.replan()
        if changed:
            container.restart('proxy')
        self.unit.set_ports(port)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        if self._upstream() is None:
            event.add_status(ops.BlockedStatus('needs a backend relation'))
        event.add_status(ops.ActiveStatus())
