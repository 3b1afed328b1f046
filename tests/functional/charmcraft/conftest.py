"""Fixtures: the real charmcraft CLI against a local Charmhub stand-in (charmhub_standin.py).

charmcraft is found through `$CHARMCRAFT` (a path to the binary) or on PATH; the tox functional
env installs charmcraft==4.5.0. Without it the tests skip with a reason saying how to install it;
under CI=true tests/conftest.py turns that skip into a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from charmcraft_projects import HOST_CHARM, charmcraft_binary, repo_lib_files
from charmhub_standin import CharmhubStandIn


@pytest.fixture(scope='module')
def hub() -> Iterator[CharmhubStandIn]:
    """A stand-in serving every repo lib as its current revision, shared by a test module."""
    with CharmhubStandIn() as standin:
        for path in repo_lib_files():
            standin.store.add_file(path, charm_name=HOST_CHARM)
        yield standin


@pytest.fixture
def fresh_hub() -> Iterator[CharmhubStandIn]:
    """A stand-in of its own, for tests that add revisions."""
    with CharmhubStandIn() as standin:
        for path in repo_lib_files():
            standin.store.add_file(path, charm_name=HOST_CHARM)
        yield standin


@pytest.fixture(scope='module')
def charmcraft_bin() -> str:
    binary = charmcraft_binary()
    if binary is None:
        pytest.skip(
            'the charmcraft CLI is not installed: set $CHARMCRAFT to the binary or put it on '
            "PATH (e.g. 'pip install charmcraft==4.5.0' in a venv)"
        )
    return binary


@pytest.fixture(scope='module')
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp('xdg-runtime')
