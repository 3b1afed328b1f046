"""Integration fixtures shared with the repository's tier (tests/integration/juju_env.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import jubilant
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from tests.integration.juju_env import require_controller


@pytest.fixture(scope='module')
def juju() -> Iterator[jubilant.Juju]:
    require_controller()
    with jubilant.temp_model() as juju:
        juju.wait_timeout = 15 * 60
        yield juju
