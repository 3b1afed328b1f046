"""The exhaustive interleaving checker, run over the real protocol code with a bounded scope.

Also proves the checker can fail: protocol variants with known defects (research §10.3) are
plugged in and must be caught.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from charms.reconcile_libs.v0 import k8s_service as ks

SCRIPT = Path(__file__).resolve().parents[2] / 'scripts' / 'check_k8s_service_protocol.py'


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location('check_k8s_service_protocol', SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def test_every_interleaving_is_safe_and_converges():
    """All scenarios, 2 and 3 units a side (the script's `--scope large`)."""
    out = io.StringIO()
    total = checker.run(checker.LARGE, out)
    print(out.getvalue())  # the explored-state count shows with -s
    assert total > 15000
    assert out.getvalue().splitlines()[-1].endswith('states explored, no violation')
    assert len(out.getvalue().splitlines()) == len(checker.LARGE) + 1


@pytest.mark.parametrize(
    'scenario',
    [s for s in checker.ROUND_SCENARIOS if not s.script],
    ids=lambda s: s.name,
)
def test_fresh_relation_has_data_after_2_rounds_and_is_quiet_after_3(scenario: object):
    rounds = checker.rounds_for(scenario)
    assert (rounds.data, rounds.quiet) == (2, 3)


@pytest.mark.parametrize(
    'scenario',
    [s for s in checker.ROUND_SCENARIOS if s.script],
    ids=lambda s: s.name,
)
def test_refresh_and_rollback_have_no_gap_and_quiesce_within_3_rounds(scenario: object):
    rounds = checker.rounds_for(scenario)
    assert rounds.data == 0  # every requirer unit kept data the whole time
    assert rounds.quiet <= 3


# --- the checker catches defective protocols -------------------------------------------------


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return monkeypatch


def _leader_without_hygiene(real):
    """A writer whose old code never deletes v<N> keys (an old lib after a rollback)."""

    def step(
        advertised: Iterable[int],
        own: Mapping[str, str],
        remote: Mapping[str, str],
        payloads: Mapping[int, str] | None = None,
        legacy: Mapping[str, str] | None = None,
    ):
        new = real(advertised, own, remote, payloads, legacy)
        for key, value in own.items():
            if key.startswith('v') and key[1:].isdigit() and key not in new:
                new[key] = value
        return new

    return step


def _reader_without_advertised_filter(real):
    """SDI's mistake: pick the version from this unit's code alone, ignoring the advertisement."""

    def step(code: Iterable[int], remote: Mapping[str, str], last: str | None, **kwargs: object):
        versions = sorted(
            int(k[1:]) for k in remote if k[1:].isdigit() and int(k[1:]) in set(code)
        )
        if versions and 'versions' in remote:
            remote = {
                **remote,
                'versions': json.dumps(
                    sorted(set(json.loads(remote['versions'])) | set(versions))
                ),
            }
        return real(code, remote, last, **kwargs)

    return step


def _leader_without_bridge(real):
    """Publish only the chosen version once negotiated (no bridge of common versions)."""

    def step(
        advertised: Iterable[int],
        own: Mapping[str, str],
        remote: Mapping[str, str],
        payloads: Mapping[int, str] | None = None,
        legacy: Mapping[str, str] | None = None,
    ):
        new = real(advertised, own, remote, payloads, legacy)
        if 'version' in new:
            for key in [k for k in new if k.startswith('v') and k[1:].isdigit()]:
                if key != f'v{new["version"]}':
                    del new[key]
        return new

    return step


def _scenario(name: str):
    return next(s for s in checker.SMALL if s.name == name)


def test_correct_reader_survives_a_writer_without_hygiene(patched: pytest.MonkeyPatch):
    patched.setattr(ks, 'leader_step', _leader_without_hygiene(ks.leader_step))
    checker.explore(_scenario('provider rolled back, then content change'))


def test_checker_catches_stale_data_without_the_advertised_filter(patched: pytest.MonkeyPatch):
    patched.setattr(ks, 'leader_step', _leader_without_hygiene(ks.leader_step))
    patched.setattr(ks, 'reader_step', _reader_without_advertised_filter(ks.reader_step))
    with pytest.raises(checker.ViolationError, match=r'stale data|holds'):
        checker.explore(_scenario('provider rolled back, then content change'))


def test_checker_catches_the_gap_without_the_bridge(patched: pytest.MonkeyPatch):
    patched.setattr(ks, 'leader_step', _leader_without_bridge(ks.leader_step))
    with pytest.raises(checker.ViolationError):
        checker.explore(_scenario('requirer refreshed later, leader first'))


def test_without_optimistic_publishing_data_takes_3_rounds(patched: pytest.MonkeyPatch):
    real = ks.leader_step

    def pessimistic(advertised, own, remote, payloads=None, legacy=None):
        return real(advertised, own, remote, payloads if remote else None, legacy)

    patched.setattr(ks, 'leader_step', pessimistic)
    rounds = checker.rounds_for(checker.ROUND_SCENARIOS[0])
    assert rounds.data == 3
