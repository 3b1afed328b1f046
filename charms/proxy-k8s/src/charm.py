#!/usr/bin/env python3
# Copyright 2026 reconcile-libs contributors
# SPDX-License-Identifier: Apache-2.0
"""proxy-k8s: a reverse proxy to the Service it receives over `k8s-service`.

The charm is a declaration of reconciler components:

    config  --+-->  proxy (Pebble: the proxy program, its upstream file, its check)
    backend --+-->  route (Kubernetes: a ConfigMap recording the route; leader only)
    config  ----->  ports (the unit's open ports)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import ops
from charms.reconcile_libs.v0.k8s_service import (
    SUPPORTED_VERSIONS,
    K8sServiceRequirer,
    K8sServiceRequirerComponent,
    ServiceInfo,
)
from charms.reconcile_libs.v0.kubernetes_components import KubernetesResources, Manifest
from charms.reconcile_libs.v0.pebble_components import (
    CheckSpec,
    ContainerFile,
    PebbleWorkload,
    ServiceSpec,
    WorkloadSpec,
)
from charms.reconcile_libs.v0.reconciler import (
    CharmReconciler,
    Component,
    ConfigComponent,
    ReconcileContext,
)

PROXY_DIR = '/srv/proxy'
PROXY_PROGRAM = (Path(__file__).parent / 'proxy_server.py').read_text()


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """The charm's config options, validated."""

    port: int = 8000
    upstream_override: str = ''

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f'port must be between 1 and 65535, not {self.port}')
        if self.upstream_override:
            host, _, port = self.upstream_override.rpartition(':')
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(
                    f'upstream-override must be host:port, not {self.upstream_override!r}'
                )


class OpenPorts(Component[None]):
    """Opens the proxy port on the unit, so that Juju's Kubernetes Service exposes it."""

    def __init__(self, config: ConfigComponent[ProxyConfig]) -> None:
        super().__init__('ports')
        self.config = config

    def reconcile(self, ctx: ReconcileContext) -> None:
        """Set the unit's open ports (ops only changes what differs)."""
        ctx.charm.unit.set_ports(ctx.output_of(self.config).port)


class ProxyCharm(ops.CharmBase):
    """A reverse proxy to a `k8s-service` provider."""

    wire_versions: ClassVar[frozenset[int]] = SUPPORTED_VERSIONS
    """The `k8s-service` wire versions this charm speaks (pin a subset for a staged rollout)."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.config_component = self.reconciler.add(ConfigComponent(ProxyConfig))
        self.requirer = K8sServiceRequirer(
            self, 'backend', observe=False, versions=self.wire_versions
        )
        self.backend = self.reconciler.add(
            K8sServiceRequirerComponent(self.requirer, name='backend')
        )
        self.reconciler.add(
            PebbleWorkload('proxy', container='proxy', spec=self._proxy),
            depends_on=[self.config_component, self.backend],
        )
        self.reconciler.add(
            KubernetesResources('route', self._route),
            depends_on=[self.config_component, self.backend],
        )
        self.reconciler.add(OpenPorts(self.config_component), depends_on=[self.config_component])
        framework.observe(self.on.show_conditions_action, self._on_show_conditions)

    def _upstream(self, ctx: ReconcileContext) -> str:
        override = ctx.output_of(self.config_component).upstream_override
        if override:
            return f'http://{override}'
        service: ServiceInfo = ctx.output_of(self.backend)[0]
        return f'http://{service.host()}:{service.port("http") or service.port()}'

    def _proxy(self, ctx: ReconcileContext) -> WorkloadSpec:
        config = ctx.output_of(self.config_component)
        settings = {'port': config.port, 'upstream': self._upstream(ctx)}
        return WorkloadSpec(
            services=[
                ServiceSpec(
                    'proxy',
                    'python3 proxy_server.py upstream.json',
                    working_dir=PROXY_DIR,
                    files=[f'{PROXY_DIR}/proxy_server.py', f'{PROXY_DIR}/upstream.json'],
                )
            ],
            files=[
                ContainerFile(f'{PROXY_DIR}/proxy_server.py', content=PROXY_PROGRAM),
                ContainerFile(f'{PROXY_DIR}/upstream.json', content=json.dumps(settings)),
            ],
            checks=[CheckSpec.http('proxy-up', f'http://localhost:{config.port}/-/health')],
        )

    def _route(self, ctx: ReconcileContext) -> list[Manifest]:
        service: ServiceInfo = ctx.output_of(self.backend)[0]
        return [
            {
                'apiVersion': 'v1',
                'kind': 'ConfigMap',
                'metadata': {
                    'name': f'{self.app.name}-route',
                    'labels': {'app.kubernetes.io/managed-by': self.app.name},
                },
                'data': {
                    'backend': f'{service.namespace}/{service.name}',
                    'upstream': self._upstream(ctx),
                },
            }
        ]

    def _on_show_conditions(self, event: ops.ActionEvent) -> None:
        event.set_results({'conditions': self.reconciler.conditions_table()})


if __name__ == '__main__':  # pragma: nocover
    ops.main(ProxyCharm)
