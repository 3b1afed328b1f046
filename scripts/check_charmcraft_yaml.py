"""Validate every charmcraft.yaml (the lib host and each example charm) with the real charmcraft.

`charmcraft expand-extensions` is a full schema validation that runs offline (exit 0 when valid).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from libtools import ROOT, charm_dirs, relative


def main() -> int:
    projects = [ROOT, *charm_dirs()]
    failures = 0
    env = dict(os.environ)
    env.setdefault('XDG_RUNTIME_DIR', tempfile.mkdtemp(prefix='charmcraft-'))
    for project in projects:
        result = subprocess.run(
            ['charmcraft', 'expand-extensions'],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        where = relative(project / 'charmcraft.yaml')
        if result.returncode == 0:
            print(f'ok       {where}')
        else:
            failures += 1
            print(f'INVALID  {where} (exit {result.returncode})\n{result.stderr.strip()}')
    print(f'check_charmcraft_yaml: {len(projects)} files, {failures} invalid')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
