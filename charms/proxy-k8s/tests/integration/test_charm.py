"""proxy-k8s alone on Juju + MicroK8s: without a backend it says so, and removes cleanly."""

from __future__ import annotations

import jubilant

from tests.integration.juju_env import charm_file, resources

APP = 'proxy-k8s'


def test_without_a_backend_it_reports_the_missing_relation(juju: jubilant.Juju):
    juju.deploy(charm_file(APP), APP, resources=resources(APP), trust=True)
    juju.wait(lambda status: status.apps[APP].app_status.current in ('blocked', 'waiting'))
    assert juju.status().apps[APP].app_status.message.startswith('[backend] ')
    juju.remove_application(APP)
    juju.wait(lambda status: APP not in status.apps)
