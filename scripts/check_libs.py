"""Check every lib with charmcraft's own parser, plus the rules charmcraft does not enforce.

Fails (exit 1) when a lib does not parse with `charmcraft.utils.charmlibs.get_lib_info` (the
parser `charmcraft publish-lib` uses; charmcraft is pinned in tox.ini), when LIBID is not 32
lowercase hex characters, when two libs share a LIBID, when LIBAPI differs from the vN folder,
when the module docstring is missing, when a lib assigns a unit or app status, or when our
content hash disagrees with charmcraft's.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from charmcraft.utils.charmlibs import get_lib_info  # type: ignore[import-not-found]
from libtools import content_hash, lib_files, metadata, relative

LIBID_RE = re.compile(r'^[0-9a-f]{32}$')
STATUS_ASSIGNMENT_RE = re.compile(r'\.(unit|app)\.status\s*=[^=]')


def check(path: Path) -> list[str]:
    problems: list[str] = []
    name = relative(path)
    try:
        info = get_lib_info(lib_path=path)
    except Exception as error:  # charmcraft raises CraftError and friends
        return [f'{name}: charmcraft rejects it: {error}']
    content = path.read_bytes()
    fields = metadata(content)
    if not LIBID_RE.match(str(info.lib_id)):
        problems.append(f'{name}: LIBID {info.lib_id!r} is not 32 lowercase hex characters')
    if f'v{info.api}' != path.parent.name:
        problems.append(f'{name}: LIBAPI {info.api} differs from its folder {path.parent.name}')
    if info.content_hash != content_hash(content):
        problems.append(f'{name}: our content hash disagrees with charmcraft (update libtools)')
    if not ast.get_docstring(ast.parse(content)):
        problems.append(f'{name}: no module docstring (it is the lib user documentation)')
    pydeps = fields.get('PYDEPS', [])
    if not isinstance(pydeps, list):
        problems.append(f'{name}: PYDEPS must be a list')
    for number, line in enumerate(content.decode().splitlines(), start=1):
        if STATUS_ASSIGNMENT_RE.search(line) and not line.lstrip().startswith('#'):
            problems.append(f'{name}:{number}: a lib must not assign a status: {line.strip()}')
    return problems


def main() -> int:
    files = lib_files()
    if not files:
        print('no libs found under lib/charms/reconcile_libs/')
        return 1
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in files:
        problems.extend(check(path))
        lib_id = str(metadata(path.read_bytes()).get('LIBID'))
        if lib_id in seen and seen[lib_id] != path.stem:
            problems.append(f'{relative(path)}: LIBID also used by {seen[lib_id]}')
        seen[lib_id] = path.stem
    for problem in problems:
        print(problem)
    print(f'check_libs: {len(files)} libs, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
