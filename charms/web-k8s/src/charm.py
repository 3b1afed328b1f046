#!/usr/bin/env python3
# Copyright 2026 reconcile-libs contributors
# SPDX-License-Identifier: Apache-2.0
"""web-k8s: serves a greeting page and publishes its Service over `k8s-service`.

The charm is a declaration of reconciler components:

    config  ->  web (Pebble: the page, the server, its check)  ->  k8s-service (publish)
            ->  ports (the unit's open ports, so Juju's Service exposes the port)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import ops
from charms.reconcile_libs.v0.k8s_service import (
    SUPPORTED_VERSIONS,
    K8sServiceProvider,
    K8sServiceProviderComponent,
    ServiceInfo,
    ServicePort,
)
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

SITE_DIR = '/srv/web'
PAGE = """<!doctype html>
<title>web-k8s</title>
<p id="greeting">$greeting</p>
<p>served by $unit</p>
"""


@dataclasses.dataclass(frozen=True)
class WebConfig:
    """The charm's config options, validated."""

    port: int = 8080
    greeting: str = 'hello from web-k8s'

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f'port must be between 1 and 65535, not {self.port}')
        if not 1 <= len(self.greeting) <= 200 or '\n' in self.greeting:
            raise ValueError('greeting must be one line of 1 to 200 characters')


class OpenPorts(Component[None]):
    """Opens the web port on the unit, so that Juju's Kubernetes Service exposes it."""

    def __init__(self, config: ConfigComponent[WebConfig]) -> None:
        super().__init__('ports')
        self.config = config

    def reconcile(self, ctx: ReconcileContext) -> None:
        """Set the unit's open ports (ops only changes what differs)."""
        ctx.charm.unit.set_ports(ctx.output_of(self.config).port)


class WebCharm(ops.CharmBase):
    """A web server published over `k8s-service`."""

    wire_versions: ClassVar[frozenset[int]] = SUPPORTED_VERSIONS
    """The `k8s-service` wire versions this charm speaks (pin a subset for a staged rollout)."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.reconciler = CharmReconciler(self)
        self.config_component = self.reconciler.add(ConfigComponent(WebConfig))
        self.web = self.reconciler.add(
            PebbleWorkload('web', container='web', spec=self._web),
            depends_on=[self.config_component],
        )
        self.reconciler.add(OpenPorts(self.config_component), depends_on=[self.config_component])
        self.provider = K8sServiceProvider(self, observe=False, versions=self.wire_versions)
        self.reconciler.add(
            K8sServiceProviderComponent(self.provider, service=self._service),
            depends_on=[self.config_component, self.web],
        )
        framework.observe(self.on.show_conditions_action, self._on_show_conditions)

    def _web(self, ctx: ReconcileContext) -> WorkloadSpec:
        config = ctx.output_of(self.config_component)
        return WorkloadSpec(
            services=[
                ServiceSpec(
                    'web',
                    f'python3 -m http.server {config.port} --bind 0.0.0.0',
                    working_dir=SITE_DIR,
                )
            ],
            files=[
                ContainerFile.from_template(
                    f'{SITE_DIR}/index.html',
                    PAGE,
                    {'greeting': config.greeting, 'unit': self.unit.name},
                    permissions=0o644,
                )
            ],
            checks=[CheckSpec.http('web-up', f'http://localhost:{config.port}/')],
        )

    def _service(self, ctx: ReconcileContext) -> ServiceInfo:
        config = ctx.output_of(self.config_component)
        return ServiceInfo(
            name=self.app.name,
            namespace=self.model.name,
            ports=(ServicePort(port=config.port, name='http', app_protocol='http'),),
        )

    def _on_show_conditions(self, event: ops.ActionEvent) -> None:
        event.set_results({'conditions': self.reconciler.conditions_table()})


if __name__ == '__main__':  # pragma: nocover
    ops.main(WebCharm)
