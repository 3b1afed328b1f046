"""The README's main job, run as a user would: `python scripts/demo.py` with real daemons.

The demo fails by itself when a request does not come back through the proxy or the incompatible
pair is not blocked; this test also checks the story it prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.kubernetes.k8s_envtest import missing_binaries_reason
from tests.functional.pebble.pebble_daemon import JUJU_PEBBLE, pebble_binary

ROOT = Path(__file__).resolve().parents[2]


def test_demo_tells_the_whole_story_with_real_processes():
    if not pebble_binary(JUJU_PEBBLE).exists():
        pytest.skip('no Pebble binary: run scripts/build-pebble.sh')
    reason = missing_binaries_reason()
    if reason:
        pytest.skip(reason)
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    result = subprocess.run(
        [sys.executable, str(ROOT / 'scripts' / 'demo.py')],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert 'Pebble: real daemons' in out
    assert 'kube-apiserver v' in out
    assert 'usable data after round 2; the relation was quiet after round 3' in out
    assert "page says: 'hello from web-k8s'" in out
    assert "ConfigMap demo/proxy-k8s-route in the API server: {'backend': 'demo/web-k8s'" in out
    assert 'relation writes: 0; Pebble mutating requests: 0' in out
    assert "relation 2: web-k8s publishes ['v1'] (version 1)" in out
    assert 'blocked: [backend] no common protocol with web-next' in out
