"""The wheel's dependencies agree with the libs' PYDEPS (pyproject.toml vs each lib file).

A charm that vendors a lib file gets its third-party needs from `PYDEPS` (installed by
charmcraft's `charm` plugin); a charm that pip-installs the wheel gets them from the wheel's
`dependencies` and extras. Both paths must install the same things:

- `dependencies` is exactly ops (every lib needs ops and nothing else unconditionally);
- each lib that declares PYDEPS has an extra whose requirements are exactly its PYDEPS;
- every extra is some lib's PYDEPS (no stale extra), and libs without PYDEPS need no extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LIB_FILES = sorted((ROOT / 'lib' / 'charms' / 'reconcile_libs').glob('v[0-9]*/*.py'))


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / 'pyproject.toml').read_text())


def pydeps(path: Path) -> list[str]:
    """PYDEPS as charmcraft reads it: a top-level plain assignment of a list literal."""
    for node in ast.iter_child_nodes(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id == 'PYDEPS':
                value = ast.literal_eval(node.value)
                assert isinstance(value, list)
                return [str(item) for item in value]
    return []


def canonical(requirements: list[str]) -> set[str]:
    """Requirement strings normalised (name case, `-`/`_`, specifier order and spacing)."""
    normalised: set[str] = set()
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower().replace('_', '-')
        specifier = ','.join(sorted(str(s) for s in requirement.specifier))
        normalised.add(f'{name}{specifier};{requirement.marker or ""}')
    return normalised


def extras() -> dict[str, set[str]]:
    optional = pyproject()['project'].get('optional-dependencies', {})
    return {name: canonical(list(reqs)) for name, reqs in optional.items()}


def test_there_are_libs() -> None:
    assert LIB_FILES


def test_the_wheel_depends_on_ops_only() -> None:
    dependencies = [Requirement(r) for r in pyproject()['project']['dependencies']]
    assert [r.name for r in dependencies] == ['ops']
    assert dependencies[0].specifier.contains('3.9.0')
    assert not dependencies[0].specifier.contains('2.23.0')


LIBS_WITH_PYDEPS = [p for p in LIB_FILES if pydeps(p)]


@pytest.mark.parametrize('lib_file', LIBS_WITH_PYDEPS, ids=[p.stem for p in LIBS_WITH_PYDEPS])
def test_each_libs_pydeps_are_exactly_one_extra_of_the_wheel(lib_file: Path) -> None:
    needs = canonical(pydeps(lib_file))
    matching = [name for name, reqs in extras().items() if reqs == needs]
    assert matching, (
        f'{lib_file.name} has PYDEPS {sorted(needs)} but no extra in pyproject.toml lists exactly '
        f'those; extras are {extras()}'
    )


def test_every_extra_is_some_libs_pydeps() -> None:
    all_pydeps = [canonical(pydeps(p)) for p in LIB_FILES]
    for name, reqs in extras().items():
        assert reqs in all_pydeps, f'extra {name!r} {sorted(reqs)} matches no lib PYDEPS'


def test_no_lib_needs_ops_in_pydeps() -> None:
    """ops comes with every charm (and is the wheel's base dependency); PYDEPS must not pin it."""
    for path in LIB_FILES:
        names = {Requirement(r).name.lower() for r in pydeps(path)}
        assert 'ops' not in names, path.name


def ops_requirements() -> set[str]:
    """Distribution names ops itself requires unconditionally (no extra marker)."""
    names: set[str] = set()
    for text in importlib.metadata.requires('ops') or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({'extra': ''}):
            names.add(requirement.name.lower().replace('_', '-'))
    return names


def runtime_import_roots(tree: ast.AST) -> set[str]:
    """Top-level names of every absolute import, except under `if TYPE_CHECKING:`."""
    roots: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            roots |= {r for child in node.orelse for r in runtime_import_roots(child)}
            continue
        if isinstance(node, ast.Import):
            roots |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
        roots |= runtime_import_roots(node)
    return roots


@pytest.mark.parametrize('lib_file', LIB_FILES, ids=[p.stem for p in LIB_FILES])
def test_every_third_party_import_is_declared_in_pydeps(lib_file: Path) -> None:
    """Lazy imports included: a module imported only when a component runs is still a need.

    ops's own unconditional requirements (PyYAML, websocket-client, ...) count as declared: any
    environment that runs a charm has them.
    """
    declared = {Requirement(r).name.lower().replace('_', '-') for r in pydeps(lib_file)}
    declared |= ops_requirements()
    distributions = importlib.metadata.packages_distributions()
    allowed = {'__future__', 'ops', 'charms'} | set(sys.stdlib_module_names)
    undeclared: dict[str, list[str]] = {}
    for root in sorted(runtime_import_roots(ast.parse(lib_file.read_bytes())) - allowed):
        provided_by = [d.lower().replace('_', '-') for d in distributions.get(root, [root])]
        if not declared.intersection(provided_by):
            undeclared[root] = provided_by
    assert not undeclared, f'{lib_file.name} imports {undeclared} but PYDEPS is {sorted(declared)}'


def full_name(path: Path) -> str:
    return f'charms.reconcile_libs.{path.parent.name}.{path.stem}'


def test_the_users_guide_states_each_libs_pydeps_and_each_extra() -> None:
    """docs/using-the-libs.md tells users what to install; it must follow PYDEPS and the extras."""
    lines = (ROOT / 'docs' / 'using-the-libs.md').read_text().splitlines()
    for path in LIB_FILES:
        rows = [line for line in lines if f'| `{full_name(path)}` |' in line]
        assert len(rows) == 1, f'the guide needs one library-table row for {full_name(path)}'
        for requirement in pydeps(path):
            assert f'`{requirement}`' in rows[0], (path.stem, requirement)
        if not pydeps(path):
            assert 'ops only' in rows[0], path.stem
    for extra in extras():
        assert any(f'reconcile-libs[{extra}]' in line for line in lines), extra
