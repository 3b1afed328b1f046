"""Integration fixtures shared with the repository's tier (tests/integration/juju_env.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from tests.integration.juju_env import temporary_model

juju = pytest.fixture(scope='module')(temporary_model)
