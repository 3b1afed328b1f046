"""What the Juju integration tests need, and a clean skip when it is not there.

The integration tier runs against a real Juju controller on MicroK8s (`scripts/deploy-microk8s.sh`
documents the setup). Without the `juju` CLI, a reachable controller, or packed charms, every
test skips with the reason; it never pretends to pass.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _controller_problem() -> str | None:
    if not shutil.which('juju'):
        return 'no juju CLI on PATH (see scripts/deploy-microk8s.sh)'
    try:
        result = subprocess.run(
            ['juju', 'show-controller', '--format', 'json'],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return 'juju show-controller timed out: no controller reachable'
    if result.returncode != 0:
        return f'no Juju controller reachable: {result.stderr.strip() or result.stdout.strip()}'
    return None


def require_controller() -> None:
    """Skip the calling test unless a Juju controller answers."""
    problem = _controller_problem()
    if problem:
        pytest.skip(problem)


def charm_file(name: str) -> Path:
    """The packed charm: $CHARM_PATH_<NAME> or charms/<name>/*.charm; skip when not packed."""
    explicit = os.environ.get('CHARM_PATH_' + name.upper().replace('-', '_'))
    if explicit:
        return Path(explicit)
    packed = sorted((ROOT / 'charms' / name).glob('*.charm'))
    if not packed:
        pytest.skip(f'{name} is not packed: run scripts/pack-charms.sh (needs charmcraft + LXD)')
    return packed[-1]


def resources(name: str) -> dict[str, str]:
    """Each OCI image resource of the charm, from its `upstream-source`."""
    meta = yaml.safe_load((ROOT / 'charms' / name / 'charmcraft.yaml').read_text())
    return {key: value['upstream-source'] for key, value in meta.get('resources', {}).items()}


def temporary_model() -> Iterator[jubilant.Juju]:
    """A fresh Juju model for a test module (skips without a controller); destroyed after."""
    require_controller()
    with jubilant.temp_model() as juju:
        juju.wait_timeout = 15 * 60
        yield juju
