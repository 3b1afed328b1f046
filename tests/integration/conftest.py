"""Integration fixtures: a temporary Juju model, or a skip naming what is missing."""

from __future__ import annotations

import pytest

from tests.integration.juju_env import temporary_model

juju = pytest.fixture(scope='module')(temporary_model)
