"""Helpers for the charmcraft functional tests: find charmcraft, run it, make project dirs.

Test infrastructure only (see charmhub_standin.py for the store stand-in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from charmhub_standin import charmcraft_env

ROOT = Path(__file__).resolve().parents[3]
OWNER_DIR = ROOT / 'lib' / 'charms' / 'reconcile_libs'
HOST_CHARM = 'reconcile-libs'

CONSUMER_CHARMCRAFT_YAML = """\
name: lib-consumer
type: charm
title: lib consumer
summary: A minimal charm that fetches the reconcile-libs libraries.
description: Test fixture for charmcraft fetch-lib.
base: ubuntu@24.04
platforms:
  amd64:
parts:
  charm:
    plugin: charm
    source: .
"""


def repo_lib_files() -> list[Path]:
    """Every lib file in the repo, whatever exists right now."""
    return sorted(OWNER_DIR.glob('v[0-9]*/*.py'))


def full_name(path: Path) -> str:
    """charms.reconcile_libs.vN.<lib> for a lib file."""
    return f'charms.reconcile_libs.{path.parent.name}.{path.stem}'


def charmcraft_binary() -> str | None:
    explicit = os.environ.get('CHARMCRAFT')
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which('charmcraft')


class CharmcraftRunner:
    """Runs the real charmcraft CLI with the environment that points it at a stand-in."""

    def __init__(self, binary: str, store_url: str, runtime_dir: Path) -> None:
        self.binary = binary
        self.env = charmcraft_env(store_url, runtime_dir)

    def __call__(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def in_parallel(
        self, calls: Sequence[tuple[Sequence[str], Path]]
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent calls at once (charmcraft's ~1-2 s start-up dominates each call)."""
        processes = [
            (
                list(args),
                subprocess.Popen(
                    [self.binary, *args],
                    cwd=cwd,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for args, cwd in calls
        ]
        results: list[subprocess.CompletedProcess[str]] = []
        for args, process in processes:
            stdout, stderr = process.communicate(timeout=120)
            results.append(
                subprocess.CompletedProcess(
                    [self.binary, *args], process.returncode, stdout, stderr
                )
            )
        return results


def make_consumer_charm(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'charmcraft.yaml').write_text(CONSUMER_CHARMCRAFT_YAML)
    return directory


def make_lib_host(directory: Path) -> Path:
    """A copy of the lib-host project: the repo's charmcraft.yaml (name: reconcile-libs) + lib/."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / 'charmcraft.yaml', directory / 'charmcraft.yaml')
    for path in repo_lib_files():
        target = directory / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return directory
