"""The real charmcraft 4.5.0 CLI fetches and publishes our libs (against a local stand-in).

Charmhub no longer registers new libraries, so our LIBIDs are unknown to the real Charmhub; these
tests prove that the files are valid charmcraft libs end-to-end: `fetch-lib` downloads them
byte-identical into a charm, the copies import and run in a minimal charm, a LIBPATCH bump on the
store updates the charm's copy, `publish-lib` enforces the bump rules on the lib-host project,
`fetch-libs`/`list-lib` work from `charm-libs`, and a store that does not know our LIBIDs (like
the real Charmhub) fails the way docs/using-the-libs.md says.

Each charmcraft call costs 1-2 s of start-up; independent calls run in parallel.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from charmcraft_projects import (
    HOST_CHARM,
    ROOT,
    CharmcraftRunner,
    full_name,
    make_consumer_charm,
    make_lib_host,
    repo_lib_files,
)
from charmhub_standin import CharmhubStandIn, content_hash, lib_fields

LIB_FILES = repo_lib_files()
CONSUMER_CHECK = ROOT / 'tests' / 'functional' / 'lib_consumer_check.py'


def bump(content: str, *, change: str | None) -> str:
    """The lib text with LIBPATCH + 1, and `change` appended as a comment line when given."""

    def next_patch(match: re.Match[str]) -> str:
        return f'LIBPATCH = {int(match.group(1)) + 1}'

    bumped, count = re.subn(r'^LIBPATCH = (\d+)$', next_patch, content, flags=re.MULTILINE)
    assert count == 1, 'expected exactly one top-level LIBPATCH line'
    return bumped + (f'# {change}\n' if change else '')


def patch_of(content: str) -> int:
    match = re.search(r'^LIBPATCH = (\d+)$', content, flags=re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def output(result: subprocess.CompletedProcess[str]) -> str:
    """charmcraft's messages: some go to stdout, warnings and errors to stderr."""
    return result.stdout + result.stderr


def served(hub: CharmhubStandIn, lib_file: Path) -> str:
    """The text the stand-in serves for a lib: the repo file as it was when the hub loaded it.

    Other work may edit lib/ while the tests run, so tests compare against this snapshot.
    """
    (revision,) = [r for r in hub.store.revisions() if r.library_name == lib_file.stem]
    return revision.content


def lib_path_in(project: Path, lib_file: Path) -> Path:
    return project / lib_file.relative_to(ROOT)


@pytest.fixture(scope='module')
def charmcraft(charmcraft_bin: str, hub: CharmhubStandIn, runtime_dir: Path) -> CharmcraftRunner:
    return CharmcraftRunner(charmcraft_bin, hub.url, runtime_dir)


@pytest.fixture(scope='module')
def fetched(
    charmcraft: CharmcraftRunner, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, subprocess.CompletedProcess[str]]]:
    """One fresh consumer charm into which every lib was fetched, one fetch-lib call each."""
    charm = make_consumer_charm(tmp_path_factory.mktemp('consumer'))
    names = [full_name(p) for p in LIB_FILES]
    results = charmcraft.in_parallel([(['fetch-lib', name], charm) for name in names])
    return charm, dict(zip(names, results, strict=True))


def test_there_are_libs_to_distribute() -> None:
    assert LIB_FILES, 'no lib files found under lib/charms/reconcile_libs/'


@pytest.mark.parametrize('lib_file', LIB_FILES, ids=[p.stem for p in LIB_FILES])
def test_fetch_lib_downloads_a_byte_identical_copy(
    lib_file: Path,
    hub: CharmhubStandIn,
    fetched: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    charm, results = fetched
    result = results[full_name(lib_file)]
    assert result.returncode == 0, result.stderr
    content = served(hub, lib_file)
    patch = patch_of(content)
    assert f'Library {full_name(lib_file)} version 0.{patch} downloaded.' in output(result)
    assert lib_path_in(charm, lib_file).read_bytes() == content.encode()


def test_fetched_libs_import_and_work_in_a_minimal_charm(
    fetched: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    charm, _ = fetched
    modules = [full_name(p) for p in LIB_FILES]
    result = subprocess.run(
        [sys.executable, str(CONSUMER_CHECK), str(charm / 'lib'), *modules],
        env={'PYTHONPATH': str(charm / 'lib'), 'PATH': '/usr/bin:/bin'},
        cwd=charm,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, output(result)
    for module in modules:
        assert f'ok: import {module} from {charm / "lib"}' in result.stdout


def test_fetch_lib_again_reports_up_to_date(
    charmcraft: CharmcraftRunner, fetched: tuple[Path, dict[str, subprocess.CompletedProcess[str]]]
) -> None:
    charm, _ = fetched
    lib_file = LIB_FILES[0]
    before = lib_path_in(charm, lib_file).read_bytes()
    result = charmcraft('fetch-lib', full_name(lib_file), cwd=charm)
    assert result.returncode == 0, result.stderr
    assert 'was already up to date' in output(result)
    assert lib_path_in(charm, lib_file).read_bytes() == before


def test_fetch_lib_updates_the_copy_after_a_libpatch_bump(
    charmcraft_bin: str, fresh_hub: CharmhubStandIn, runtime_dir: Path, tmp_path: Path
) -> None:
    run = CharmcraftRunner(charmcraft_bin, fresh_hub.url, runtime_dir)
    lib_file = LIB_FILES[0]
    charm = make_consumer_charm(tmp_path / 'consumer')
    lib_path_in(charm, lib_file).parent.mkdir(parents=True)
    old = served(fresh_hub, lib_file)
    lib_path_in(charm, lib_file).write_text(old)  # the charm holds the current patch
    new = bump(old, change='a fix released as the next patch')
    fresh_hub.store.add_content(new, lib_file.stem, charm_name=HOST_CHARM)

    result = run('fetch-lib', full_name(lib_file), cwd=charm)

    assert result.returncode == 0, result.stderr
    message = f'Library {full_name(lib_file)} updated to version 0.{patch_of(old) + 1}.'
    assert message in output(result)
    assert lib_path_in(charm, lib_file).read_text() == new


def test_publish_lib_refuses_a_change_without_a_libpatch_bump(
    charmcraft_bin: str, fresh_hub: CharmhubStandIn, runtime_dir: Path, tmp_path: Path
) -> None:
    run = CharmcraftRunner(charmcraft_bin, fresh_hub.url, runtime_dir)
    lib_file = LIB_FILES[0]
    host = make_lib_host(tmp_path / 'host')
    changed = lib_path_in(host, lib_file)
    changed.write_text(served(fresh_hub, lib_file) + '# an unbumped change\n')
    before = fresh_hub.store.revisions()

    result = run('publish-lib', full_name(lib_file), cwd=host)

    assert result.returncode == 1, output(result)
    patch = patch_of(served(fresh_hub, lib_file))
    assert (
        f'Library {full_name(lib_file)} version 0.{patch} is the same than in Charmhub but '
        'content is different'
    ) in output(result)
    assert fresh_hub.store.published() == []
    assert fresh_hub.store.revisions() == before


def test_publish_lib_refuses_a_bump_without_a_change(
    charmcraft_bin: str, fresh_hub: CharmhubStandIn, runtime_dir: Path, tmp_path: Path
) -> None:
    run = CharmcraftRunner(charmcraft_bin, fresh_hub.url, runtime_dir)
    lib_file = LIB_FILES[0]
    host = make_lib_host(tmp_path / 'host')
    lib_path_in(host, lib_file).write_text(bump(served(fresh_hub, lib_file), change=None))

    result = run('publish-lib', full_name(lib_file), cwd=host)

    assert result.returncode == 1, output(result)
    assert 'LIBPATCH number was incorrectly incremented' in output(result)
    assert fresh_hub.store.published() == []


def test_publish_lib_accepts_a_bumped_change_and_consumers_fetch_it(
    charmcraft_bin: str, fresh_hub: CharmhubStandIn, runtime_dir: Path, tmp_path: Path
) -> None:
    run = CharmcraftRunner(charmcraft_bin, fresh_hub.url, runtime_dir)
    lib_file = LIB_FILES[0]
    host = make_lib_host(tmp_path / 'host')
    new = bump(served(fresh_hub, lib_file), change='a documented behaviour change')
    lib_path_in(host, lib_file).write_text(new)
    new_patch = patch_of(new)

    result = run('publish-lib', full_name(lib_file), cwd=host)

    assert result.returncode == 0, output(result)
    assert f'Library {full_name(lib_file)} sent to the store with version 0.{new_patch}' in (
        output(result)
    )
    (publish,) = fresh_hub.store.published()
    assert publish.authorization == 'Macaroon reconcile-libs-standin'
    library_id, _, _ = lib_fields(new)
    assert publish.path == f'/v1/charm/libraries/{HOST_CHARM}/{library_id}'
    assert publish.body['content'] == new
    assert publish.body['hash'] == content_hash(new.encode())
    tip = fresh_hub.store.revisions()[-1]
    assert (tip.library_name, tip.patch, tip.content) == (lib_file.stem, new_patch, new)

    consumer = make_consumer_charm(tmp_path / 'consumer')
    fetch = run('fetch-lib', full_name(lib_file), cwd=consumer)
    assert fetch.returncode == 0, fetch.stderr
    assert lib_path_in(consumer, lib_file).read_text() == new


def test_a_store_that_does_not_know_our_libs_like_charmhub_refuses_them(
    charmcraft_bin: str, runtime_dir: Path, tmp_path: Path
) -> None:
    """What users see against the real Charmhub, where our LIBIDs are not registered.

    Naming one of our libs fails with "not found"; a bare `fetch-lib` (refresh every lib in the
    charm) fails as a whole with charmcraft's unhelpful "Library None" (canonical/charmcraft#2204)
    as soon as the charm holds one of our libs. docs/using-the-libs.md tells users both.
    """
    charm = make_consumer_charm(tmp_path / 'consumer')
    copies = {lib_path_in(charm, p): p.read_bytes() for p in LIB_FILES}
    for path, content in copies.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    with CharmhubStandIn() as empty_hub:
        run = CharmcraftRunner(charmcraft_bin, empty_hub.url, runtime_dir)
        named, bare = run.in_parallel(
            [(['fetch-lib', full_name(LIB_FILES[0])], charm), (['fetch-lib'], charm)]
        )
    assert named.returncode == 1
    assert f'Library {full_name(LIB_FILES[0])} not found in Charmhub.' in output(named)
    assert bare.returncode == 1
    assert 'Library None not found in Charmhub.' in output(bare)
    assert {path: path.read_bytes() for path in copies} == copies


def test_fetch_libs_from_charm_libs_and_list_lib(
    charmcraft: CharmcraftRunner, hub: CharmhubStandIn, tmp_path: Path
) -> None:
    """The charm-libs path (`fetch-libs`, pinned to API 0 or to an exact patch) and list-lib."""
    charm = make_consumer_charm(tmp_path / 'consumer')
    first, *rest = LIB_FILES
    pins = [(first, f'"0.{patch_of(served(hub, first))}"'), *[(p, '"0"') for p in rest]]
    declared = ''.join(f'  - lib: {HOST_CHARM}.{p.stem}\n    version: {v}\n' for p, v in pins)
    yaml_path = charm / 'charmcraft.yaml'
    yaml_path.write_text(yaml_path.read_text() + 'charm-libs:\n' + declared)

    fetch, listing = charmcraft.in_parallel(
        [(['fetch-libs'], charm), (['list-lib', HOST_CHARM, '--format=json'], charm)]
    )

    assert fetch.returncode == 0, output(fetch)
    assert f'Downloaded {len(LIB_FILES)} charm libraries.' in output(fetch)
    for lib_file in LIB_FILES:
        assert lib_path_in(charm, lib_file).read_bytes() == served(hub, lib_file).encode()
    assert listing.returncode == 0, output(listing)
    listed = {item['library_name']: item for item in json.loads(listing.stdout)}
    assert set(listed) == {p.stem for p in LIB_FILES}
    for lib_file in LIB_FILES:
        assert listed[lib_file.stem]['content_hash'] == content_hash(
            served(hub, lib_file).encode()
        )
