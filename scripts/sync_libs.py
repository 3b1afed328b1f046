"""Copy the libs into the example charms; with --check, fail when a copy drifted.

Each example charm lists the libs it uses under `charm-libs` in its charmcraft.yaml
(`- lib: reconcile-libs.<name>` / `version: "0"`). The copies are committed (so `charmcraft pack`
needs no network) and must be byte-identical to lib/; never edit them by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from libtools import LIB_DIR, charm_dirs, relative

CHARM_LIB_RE = re.compile(r'^\s*-\s*lib:\s*reconcile[-_]libs\.(\w+)\s*$', re.MULTILINE)
VERSION_RE = re.compile(r'^\s*version:\s*["\']?(\d+)', re.MULTILINE)


def wanted_libs(charm_dir: Path) -> list[tuple[str, str]]:
    text = (charm_dir / 'charmcraft.yaml').read_text()
    libs: list[tuple[str, str]] = []
    for match in CHARM_LIB_RE.finditer(text):
        version = VERSION_RE.search(text, match.end())
        libs.append((match.group(1), f'v{version.group(1) if version else "0"}'))
    return libs


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only report drift')
    args = parser.parse_args()
    problems: list[str] = []
    copies = 0
    for charm_dir in charm_dirs():
        target_dir = charm_dir / 'lib' / 'charms' / 'reconcile_libs'
        wanted = {
            target_dir / version / f'{name}.py': LIB_DIR / version / f'{name}.py'
            for name, version in wanted_libs(charm_dir)
        }
        for existing in sorted(target_dir.glob('v*/*.py')):
            if existing not in wanted:
                problems.append(f'{relative(existing)}: not listed in charm-libs; remove it')
                if not args.check:
                    existing.unlink()
        for target, source in wanted.items():
            copies += 1
            if not source.exists():
                problems.append(
                    f'{relative(charm_dir)}: charm-libs names {relative(source)}, '
                    f'which does not exist'
                )
                continue
            if target.exists() and target.read_bytes() == source.read_bytes():
                continue
            if args.check:
                problems.append(
                    f'{relative(target)} differs from {relative(source)}: '
                    f'run python scripts/sync_libs.py'
                )
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
                print(f'synced {relative(target)}')
    for problem in problems:
        print(problem)
    print(f'sync_libs: {copies} copies, {len(problems)} problems')
    if args.check:
        return 1 if problems else 0
    return 1 if any('does not exist' in problem for problem in problems) else 0


if __name__ == '__main__':
    sys.exit(main())
