"""web-k8s alone on Juju + MicroK8s: it serves its page and removes cleanly."""

from __future__ import annotations

import jubilant

from tests.integration.juju_env import charm_file, resources

APP = 'web-k8s'


def test_deploys_serves_and_removes(juju: jubilant.Juju):
    juju.deploy(charm_file(APP), APP, resources=resources(APP), config={'greeting': 'hi there'})
    juju.wait(jubilant.all_active, error=jubilant.any_error)
    page = juju.ssh(
        f'{APP}/0',
        'python3',
        '-c',
        '"import urllib.request;print(urllib.request.urlopen(\'http://localhost:8080/\').read())"',
        container='web',
    )
    assert 'hi there' in page
    juju.config(APP, {'port': 0})
    juju.wait(lambda status: jubilant.all_blocked(status, APP))
    assert 'port must be between 1 and 65535' in juju.status().apps[APP].app_status.message
    juju.remove_application(APP)
    juju.wait(lambda status: APP not in status.apps)
