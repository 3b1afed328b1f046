"""Integration fixtures: a temporary Juju model, or a skip naming what is missing."""

from __future__ import annotations

from collections.abc import Iterator

import jubilant
import pytest

from tests.integration.juju_env import require_controller


@pytest.fixture(scope='module')
def juju() -> Iterator[jubilant.Juju]:
    require_controller()
    with jubilant.temp_model() as juju:
        juju.wait_timeout = 15 * 60
        yield juju
