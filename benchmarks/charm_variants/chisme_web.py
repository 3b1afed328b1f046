"""web-k8s's Pebble work written with charmed-kubeflow-chisme 0.4.31's components.

The comparison point of the whole-hook benchmark: the same page, layer, check and port, the way a
chisme charm declares them (CharmReconciler + PebbleServiceComponent + LazyContainerFileTemplate).
"""

from __future__ import annotations

import ops
from charmed_kubeflow_chisme.components import (  # type: ignore[import-not-found]
    CharmReconciler,
    LazyContainerFileTemplate,
    PebbleServiceComponent,
)

PAGE = (
    '<!doctype html>\n<title>web-k8s</title>\n'
    '<p id="greeting">{{ greeting }}</p>\n<p>served by {{ unit }}</p>\n'
)


class WebService(PebbleServiceComponent):
    def get_layer(self) -> ops.pebble.Layer:
        port = int(self._charm.config['port'])
        return ops.pebble.Layer(
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
            }
        )

    def _configure_unit(self, event: ops.EventBase) -> None:
        super()._configure_unit(event)
        self._charm.unit.set_ports(int(self._charm.config['port']))


class ChismeWebCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        page = LazyContainerFileTemplate(
            destination_path='/srv/web/index.html',
            source_template=PAGE,
            context=lambda: {'greeting': self.config['greeting'], 'unit': self.unit.name},
            permissions=0o644,
        )
        self.reconciler.add(
            WebService(self, 'web', 'web', service_name='web', files_to_push=[page])
        )
        self.reconciler.install_default_event_handlers()
