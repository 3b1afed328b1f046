"""The wheel: what `pip install` gives a charm author, built from this repo by hatchling.

Two clean venvs (no system site-packages, nothing from the test env): one gets the wheel built
with `pip wheel --no-deps <repo>` installed with every extra and `ops[testing]`; the other gets a
plain `pip install --no-deps <repo>`. Both must install the same files, only
`charms/reconcile_libs/v<N>/<lib>.py` for every lib file in lib/ (no `charms/__init__.py`: `charms`
stays a namespace package so a charm's own lib/charms/... still imports beside it). A minimal
charm then runs against the wheel's copy through ops.testing inside the venv.

Venv creation and installs are the slow part: one venv per kind per module, pip's cache, and the
outer pip driving the venvs (`pip --python`) so the venvs need no pip of their own.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB_ROOT = ROOT / 'lib'
LIB_FILES = sorted((LIB_ROOT / 'charms' / 'reconcile_libs').glob('v[0-9]*/*.py'))
CONSUMER_CHECK = Path(__file__).parent / 'lib_consumer_check.py'
DIST_NAME = 'reconcile-libs'


def run(*argv: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert result.returncode == 0, f'{argv} failed:\n{result.stdout}\n{result.stderr}'
    return result


def pip(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, '-m', 'pip', '--disable-pip-version-check', *args)


def make_venv(directory: Path) -> Path:
    """A clean venv without pip; returns its python."""
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(directory)
    return directory / 'bin' / 'python'


def venv_python_env() -> dict[str, str]:
    """An environment that adds nothing to a venv's sys.path (no PYTHONPATH from tox)."""
    return {'PATH': '/usr/bin:/bin', 'PYTHONNOUSERSITE': '1'}


def installed_files(python: Path) -> set[str]:
    """The files the reconcile-libs distribution installed (its RECORD), minus metadata and
    the bytecode pip compiled at install time."""
    code = (
        'import importlib.metadata as m\n'
        f'for f in m.distribution({DIST_NAME!r}).files or []:\n'
        "    if '.dist-info' not in f.parts[0] and f.suffix != '.pyc': print(f.as_posix())\n"
    )
    out = run(python, '-c', code, env=venv_python_env()).stdout
    return set(out.split())


def expected_files() -> set[str]:
    return {p.relative_to(LIB_ROOT).as_posix() for p in LIB_FILES}


def site_packages(python: Path) -> Path:
    code = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    return Path(run(python, '-c', code, env=venv_python_env()).stdout.strip())


@pytest.fixture(scope='module')
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('wheelhouse')
    pip('wheel', '--no-deps', '--wheel-dir', out, ROOT)
    (built,) = out.glob('reconcile_libs-*.whl')
    return built


@pytest.fixture(scope='module')
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with the wheel, all its extras, and ops[testing] for the charm test."""
    python = make_venv(tmp_path_factory.mktemp('wheel-venv') / 'venv')
    extras = '[k8s-service,kubernetes]'
    pip(
        '--python',
        python,
        'install',
        '--constraint',
        ROOT / 'constraints.txt',
        f'{wheel}{extras}',
        'ops[testing]',
    )
    return python


@pytest.fixture(scope='module')
def repo_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with `pip install <repo>` (no dependencies: only the files are compared)."""
    python = make_venv(tmp_path_factory.mktemp('repo-venv') / 'venv')
    pip('--python', python, 'install', '--no-deps', ROOT)
    return python


def test_the_wheel_holds_exactly_the_lib_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        payload = {n for n in names if '.dist-info/' not in n}
        assert payload == expected_files()
        for name in payload:
            assert archive.read(name) == (LIB_ROOT / name).read_bytes(), name
    assert not any(n.endswith('__init__.py') for n in names), '`charms` must stay a namespace'


def test_pip_install_from_the_repo_and_from_the_wheel_install_the_same_files(
    wheel_venv: Path, repo_venv: Path
) -> None:
    assert installed_files(repo_venv) == expected_files()
    assert installed_files(wheel_venv) == installed_files(repo_venv)


def test_only_the_charms_namespace_is_added_at_top_level(repo_venv: Path) -> None:
    top_level = {Path(f).parts[0] for f in installed_files(repo_venv)}
    assert top_level == {'charms'}
    assert not (site_packages(repo_venv) / 'charms' / '__init__.py').exists()


def test_a_minimal_charm_runs_against_the_installed_wheel(wheel_venv: Path) -> None:
    modules = [f'charms.reconcile_libs.{p.parent.name}.{p.stem}' for p in LIB_FILES]
    lib_dir = site_packages(wheel_venv)
    result = subprocess.run(
        [str(wheel_venv), str(CONSUMER_CHECK), str(lib_dir), *modules],
        env=venv_python_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for module in modules:
        assert f'ok: import {module} from {lib_dir}' in result.stdout
    assert 'ok: reconciler charm blocked without config, active with it' in result.stdout


def test_the_installed_libs_coexist_with_a_charms_own_lib_dir(
    wheel_venv: Path, tmp_path: Path
) -> None:
    """A charm's dispatch puts its lib/ on PYTHONPATH; other owners' libs must still import."""
    charm_lib = tmp_path / 'lib'
    other = charm_lib / 'charms' / 'other_owner' / 'v0'
    other.mkdir(parents=True)
    (other / 'thing.py').write_text('VALUE = 42\n')
    code = (
        'import charms.other_owner.v0.thing as thing\n'
        'import charms.reconcile_libs.v0.reconciler as reconciler\n'
        'print(thing.VALUE, reconciler.__file__)\n'
    )
    env = {**venv_python_env(), 'PYTHONPATH': str(charm_lib)}
    out = run(wheel_venv, '-c', code, env=env).stdout.split()
    assert out[0] == '42'
    assert Path(out[1]).is_relative_to(site_packages(wheel_venv))


def test_a_copy_in_the_charms_lib_dir_shadows_the_installed_wheel(
    wheel_venv: Path, tmp_path: Path
) -> None:
    """What docs/using-the-libs.md warns about: keep either the copy or the wheel, not both."""
    charm_lib = tmp_path / 'lib'
    copy = charm_lib / 'charms' / 'reconcile_libs' / 'v0' / 'reconciler.py'
    copy.parent.mkdir(parents=True)
    copy.write_text('STALE_COPY = True\n')
    code = 'import charms.reconcile_libs.v0.reconciler as r; print(r.__file__)'
    env = {**venv_python_env(), 'PYTHONPATH': str(charm_lib)}
    assert run(wheel_venv, '-c', code, env=env).stdout.strip() == str(copy)
