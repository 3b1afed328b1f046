"""Shared helpers for the lib scripts: where the libs are and charmcraft's content hash.

The hash mirrors charmcraft 4.5's `get_lib_internals` exactly (SHA-256 over the file's lines with
CRLF folded and the LIBAPI/LIBPATCH/LIBID lines skipped), so a bump check here agrees with what
`charmcraft publish-lib` would decide; `check_libs.py` cross-checks it against charmcraft itself.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNER = 'reconcile_libs'
LIB_DIR = ROOT / 'lib' / 'charms' / OWNER


def lib_files() -> list[Path]:
    """Every lib file, sorted: lib/charms/reconcile_libs/vN/<name>.py."""
    return sorted(LIB_DIR.glob('v[0-9]*/*.py'))


def content_hash(content: bytes) -> str:
    digest = hashlib.sha256()
    for line in content.splitlines(keepends=True):
        line = line.replace(b'\r\n', b'\n')
        if line.startswith((b'LIBAPI', b'LIBPATCH', b'LIBID')):
            continue
        digest.update(line)
    return digest.hexdigest()


def metadata(content: bytes) -> dict[str, object]:
    """Top-level constant assignments LIBID/LIBAPI/LIBPATCH/PYDEPS, as charmcraft reads them."""
    found: dict[str, object] = {}
    for node in ast.iter_child_nodes(ast.parse(content)):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in (
                'LIBID',
                'LIBAPI',
                'LIBPATCH',
                'PYDEPS',
            ):
                found[target.id] = ast.literal_eval(node.value)
    return found


def charm_dirs() -> list[Path]:
    """The example charms: every charms/<name>/ with a charmcraft.yaml."""
    return sorted(p for p in (ROOT / 'charms').glob('*') if (p / 'charmcraft.yaml').exists())


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))
