"""web-k8s's Pebble work written as a bare ops charm: the baseline of the whole-hook benchmark.

Same config options, same page, same layer and check, same open port, same compare-before-push;
no library beyond ops.
"""

from __future__ import annotations

import json

import ops

PAGE = (
    '<!doctype html>\n<title>web-k8s</title>\n'
    '<p id="greeting">{greeting}</p>\n<p>served by {unit}</p>\n'
)


class BareWebCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        for event in (
            self.on.install,
            self.on.config_changed,
            self.on.update_status,
            self.on.web_pebble_ready,
            self.on.upgrade_charm,
            self.on.start,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _reconcile(self, event: ops.EventBase) -> None:
        port = int(self.config['port'])
        container = self.unit.get_container('web')
        if not container.can_connect():
            return
        page = PAGE.format(greeting=self.config['greeting'], unit=self.unit.name)
        current = None
        if container.exists('/srv/web/index.html'):
            with container.pull('/srv/web/index.html') as file:
                current = file.read()
        if current != page:
            container.push('/srv/web/index.html', page, make_dirs=True, permissions=0o644)
        container.add_layer(
            'web',
            {
                'services': {
                    'web': {
                        'override': 'replace',
                        'startup': 'enabled',
                        'command': f'python3 -m http.server {port} --bind 0.0.0.0',
                        'working-dir': '/srv/web',
                    }
                },
                'checks': {
                    'web-up': {
                        'override': 'replace',
                        'level': 'ready',
                        'http': {'url': f'http://localhost:{port}/'},
                    }
                },
            },
            combine=True,
        )
        container.replan()
        self.unit.set_ports(port)
        if self.unit.is_leader():
            self._publish(port)

    def _publish(self, port: int) -> None:
        """What web-k8s publishes to a requirer speaking versions 1 and 2, compare-before-write."""
        name, namespace = self.app.name, self.model.name
        v2_port = {'app_protocol': 'http', 'name': 'http', 'port': port, 'protocol': 'TCP'}
        desired = {
            'versions': '[1,2]',
            'version': '2',
            'v1': json.dumps(
                {'name': name, 'namespace': namespace, 'port': port},
                separators=(',', ':'),
                sort_keys=True,
            ),
            'v2': json.dumps(
                {'name': name, 'namespace': namespace, 'ports': [v2_port]},
                separators=(',', ':'),
                sort_keys=True,
            ),
        }
        for relation in self.model.relations['k8s-service']:
            bag = relation.data[self.app]
            if dict(bag) != desired:
                bag.update(desired)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        container = self.unit.get_container('web')
        if not container.can_connect():
            event.add_status(ops.WaitingStatus('waiting for Pebble'))
            return
        if not all(s.is_running() for s in container.get_services('web').values()):
            event.add_status(ops.WaitingStatus('web not running'))
        event.add_status(ops.ActiveStatus())
