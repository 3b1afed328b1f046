"""Fixtures: real Pebble daemons, one per test, for each pinned Pebble version.

Binaries come from scripts/build-pebble.sh (cached under
${RECONCILE_LIBS_CACHE:-~/.cache/reconcile-libs}/bin/pebble-<version>/pebble). A missing binary
skips the test with a reason naming the script; under CI=true tests/conftest.py turns that skip
into a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pebble_daemon import VERSIONS, PebbleDaemon, pebble_binary


@pytest.fixture(params=VERSIONS)
def pebble_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pebble_daemon(pebble_version: str, tmp_path: Path) -> Iterator[PebbleDaemon]:
    binary = pebble_binary(pebble_version)
    if not binary.is_file():
        pytest.skip(
            f'Pebble {pebble_version} is not built ({binary} is missing): '
            f'run scripts/build-pebble.sh'
        )
    daemon = PebbleDaemon.start(binary, pebble_version, tmp_path / 'pebble')
    try:
        yield daemon
    finally:
        daemon.stop()
