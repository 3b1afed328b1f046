"""The lib's documented "Full example" runs as written against the real API server.

The example builds its client the default way (`lightkube.Client()`, from the environment), so
the test points KUBECONFIG at the envtest admin kubeconfig.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0 import kubernetes_components
from k8s_envtest import EnvTest
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from ops import testing


def full_example_source() -> str:
    doc = kubernetes_components.__doc__ or ''
    section = doc.split('## Full example', 1)[1]
    match = re.search(r'```python\n(.*?)```', section, re.DOTALL)
    assert match, 'the Full example section has no python block'
    return match.group(1)


def test_full_example_from_the_docstring_deploys_its_objects(
    envtest: EnvTest,
    admin: Client,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(json.dumps(envtest.kubeconfig(namespace=namespace)))
    monkeypatch.setenv('KUBECONFIG', str(kubeconfig))
    module = types.ModuleType('full_example')
    monkeypatch.setitem(sys.modules, 'full_example', module)  # dataclasses look it up
    exec(compile(full_example_source(), 'full_example', 'exec'), module.__dict__)
    example: dict[str, Any] = module.__dict__

    config = {
        'options': {
            'image': {'type': 'string', 'default': 'ghcr.io/example/worker:1.0'},
            'replicas': {'type': 'int', 'default': 1},
        }
    }
    ctx = testing.Context(example['WorkerCharm'], meta={'name': 'worker'}, config=config)
    state = testing.State(leader=True, config={'replicas': 3}, model=testing.Model(name=namespace))
    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status == ops.WaitingStatus(
        f'[workers] Deployment {namespace}/worker-worker: Updated: 0/3'
    )
    deployment = admin.get(Deployment, 'worker-worker', namespace=namespace)
    assert deployment.spec is not None
    assert deployment.spec.replicas == 3
    widgets = create_namespaced_resource('example.com', 'v1', 'Widget', 'widgets')
    assert admin.get(widgets, 'worker-widget', namespace=namespace).spec == {'size': 3}
    service = admin.get(Service, 'worker-worker', namespace=namespace)
    assert service.spec is not None
    assert [port.port for port in service.spec.ports or []] == [8080]
