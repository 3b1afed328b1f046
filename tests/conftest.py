"""Test-suite wide rules.

Under ``CI=true`` a skipped functional test is a failure: the functional tier exists to prove the
libs against real Pebble, a real kube-apiserver and the real charmcraft CLI, and CI builds all of
them. Locally the same tests skip with a reason naming what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

FUNCTIONAL_DIR = Path(__file__).parent / 'functional'


def _in_ci() -> bool:
    return os.environ.get('CI', '').lower() in ('true', '1', 'yes')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FUNCTIONAL_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.functional)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and _in_ci() and item.get_closest_marker('functional'):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = 'failed'
        report.longrepr = (
            f'functional test skipped under CI=true (a skip is a failure here): {reason}'
        )
