"""Run one test tier of every example charm, each in its own pytest process.

Each charm has its own `src/charm.py` (module `charm`), so the charms cannot share one pytest
process. The charm directory is the working directory and `src` + `lib` are on PYTHONPATH, as in
a packed charm (the charm's own synced lib copies, not lib/).

Usage: python scripts/run_charm_tests.py unit|integration [pytest args].

A charm without tests in the `unit` tier is an error (pytest's exit code 5 is not ignored); in
the `integration` tier the tests skip themselves when no Juju controller is reachable.
"""

from __future__ import annotations

import os
import subprocess
import sys

from libtools import charm_dirs, relative

NO_TESTS_COLLECTED = 5


def main() -> int:
    tier, *pytest_args = sys.argv[1:] or ['unit']
    charms = charm_dirs()
    if not charms:
        print('run_charm_tests: no example charms under charms/ yet; nothing to run')
        return 0
    failed: list[str] = []
    for charm in charms:
        tests = charm / 'tests' / tier
        if not tests.is_dir():
            print(f'run_charm_tests: {relative(charm)} has no tests/{tier}')
            failed.append(relative(charm))
            continue
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join([str(charm / 'src'), str(charm / 'lib')])
        print(f'==> {relative(charm)}: pytest tests/{tier}', flush=True)
        result = subprocess.run(
            [
                sys.executable,
                '-m',
                'pytest',
                f'tests/{tier}',
                '-p',
                'no:cacheprovider',
                *pytest_args,
            ],
            cwd=charm,
            env=env,
        )
        if result.returncode == NO_TESTS_COLLECTED:
            print(f'run_charm_tests: {relative(charm)} tests/{tier} collected no tests')
        if result.returncode != 0:
            failed.append(relative(charm))
    print(f'run_charm_tests: {len(charms)} charms, failed: {", ".join(failed) or "none"}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
