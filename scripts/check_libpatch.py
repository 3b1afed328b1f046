"""Fail when a lib's content changed without LIBPATCH going up by exactly one.

Two checks, because CI runs on a fresh clone where there is no older main to diff against:

1. The lock (`libpatch.lock`, JSON): for every lib, the content hash of every LIBPATCH it has been
   released with. The current LIBPATCH must be recorded, with the file's current hash, and the
   recorded patches must run 1, 2, 3... without gaps. Editing a lib without a bump therefore
   fails here, in CI, as `charmcraft publish-lib` would refuse it against Charmhub.
2. Against a git base (`--base REV`, else $LIBPATCH_BASE, else `origin/main` when it exists and
   differs from HEAD): a lib whose content differs from the base must have LIBPATCH = base + 1;
   one whose content is the same must keep the base's LIBPATCH; LIBID never changes; recorded
   hashes are never rewritten.

After bumping LIBPATCH, run `python scripts/check_libpatch.py --record` to add the new entry. A
LIBPATCH not yet released at the base may be re-recorded while the change is being worked on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from libtools import ROOT, content_hash, lib_files, metadata, relative

LOCK = ROOT / 'libpatch.lock'


def lib_key(path: Path) -> str:
    return f'{path.parent.name}/{path.stem}'


def load_lock(text: str | None) -> dict[str, dict[str, str]]:
    return json.loads(text) if text else {}


def git(*args: str) -> str | None:
    result = subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def default_base() -> str | None:
    base = os.environ.get('LIBPATCH_BASE')
    if base:
        return base
    origin = git('rev-parse', '--verify', '-q', 'origin/main')
    head = git('rev-parse', 'HEAD')
    if origin and origin.strip() != (head or '').strip():
        return 'origin/main'
    return None


def check_lock(lock: dict[str, dict[str, str]]) -> list[str]:
    problems: list[str] = []
    for path in lib_files():
        content = path.read_bytes()
        patch = metadata(content).get('LIBPATCH')
        entries = lock.get(lib_key(path), {})
        recorded = entries.get(str(patch))
        name = relative(path)
        if recorded is None:
            problems.append(
                f'{name}: LIBPATCH {patch} is not in libpatch.lock; after bumping, '
                f'run: python scripts/check_libpatch.py --record'
            )
        elif recorded != content_hash(content):
            problems.append(
                f'{name}: content changed but LIBPATCH is still {patch}, which was '
                f'released with other content: bump LIBPATCH to '
                f'{int(str(patch)) + 1} and record it'
            )
        patches = sorted(int(key) for key in entries)
        if patches and patches != list(range(patches[0], patches[0] + len(patches))):
            problems.append(f'{name}: recorded LIBPATCHes are not consecutive: {patches}')
        if patches and recorded is not None and int(str(patch)) != patches[-1]:
            problems.append(
                f'{name}: LIBPATCH {patch} is below the highest recorded, {patches[-1]}'
            )
    return problems


def check_against_base(base: str, lock: dict[str, dict[str, str]]) -> list[str]:
    problems: list[str] = []
    base_lock = load_lock(git('show', f'{base}:libpatch.lock'))
    for key, entries in base_lock.items():
        for patch, digest in entries.items():
            if lock.get(key, {}).get(patch) != digest:
                problems.append(
                    f'libpatch.lock: {key} LIBPATCH {patch} was rewritten (was '
                    f'released as {digest[:12]}); bump instead'
                )
    for path in lib_files():
        old = git('show', f'{base}:{relative(path)}')
        if old is None:
            continue
        new_bytes = path.read_bytes()
        old_fields, new_fields = metadata(old.encode()), metadata(new_bytes)
        old_patch, new_patch = int(str(old_fields['LIBPATCH'])), int(str(new_fields['LIBPATCH']))
        name = relative(path)
        if old_fields.get('LIBID') != new_fields.get('LIBID'):
            problems.append(f'{name}: LIBID changed; it must stay the same forever')
        if content_hash(old.encode()) != content_hash(new_bytes):
            if new_patch != old_patch + 1:
                problems.append(
                    f'{name}: changed since {base} but LIBPATCH is {new_patch}; '
                    f'it must be exactly {old_patch + 1}'
                )
        elif new_patch != old_patch:
            problems.append(
                f'{name}: LIBPATCH moved from {old_patch} to {new_patch} without a content change'
            )
    return problems


def record(lock: dict[str, dict[str, str]], base: str | None) -> list[str]:
    """Record each lib's current LIBPATCH hash; a patch released at `base` is never rewritten."""
    problems: list[str] = []
    released = load_lock(git('show', f'{base}:libpatch.lock')) if base else {}
    for path in lib_files():
        content = path.read_bytes()
        patch = str(metadata(content).get('LIBPATCH'))
        digest = content_hash(content)
        released_digest = released.get(lib_key(path), {}).get(patch)
        if released_digest not in (None, digest):
            problems.append(
                f'{relative(path)}: LIBPATCH {patch} was released at {base} with '
                f'other content; bump LIBPATCH first'
            )
            continue
        lock.setdefault(lib_key(path), {})[patch] = digest
    if not problems:
        LOCK.write_text(json.dumps(lock, indent=2, sort_keys=True) + '\n')
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--base', help='git revision to compare with (default: see module doc)')
    parser.add_argument('--record', action='store_true', help='record current LIBPATCH hashes')
    args = parser.parse_args()
    lock = load_lock(LOCK.read_text() if LOCK.exists() else None)
    base = args.base or default_base()
    if args.record:
        problems = record(lock, base)
    else:
        problems = check_lock(lock)
        if base:
            problems += check_against_base(base, lock)
        else:
            print('check_libpatch: no git base to compare with (fresh clone); lock checked only')
    for problem in problems:
        print(problem)
    print(f'check_libpatch: {len(lib_files())} libs, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
