"""Run one hook of a charm in this process, as Juju's dispatch would: `ops.main(CharmClass)`.

Usage: python dispatch_hook.py <module file> <class name> <socket map JSON>

The Juju context comes from the environment (JUJU_DISPATCH_PATH, JUJU_UNIT_NAME, ...) and the
hook tools from PATH (bench_charms.py provides stubs). The one change to ops: the charm's
containers talk to the benchmark's real Pebble daemons instead of /charm/containers/<name>/.
Every charm variant runs through this same file, so the comparison is fair.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import ops
from ops import pebble
from ops.model import _ModelBackend


def main() -> None:
    module_path, class_name, socket_map = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    def get_pebble(self: _ModelBackend, socket_path: str) -> pebble.Client:
        container = socket_path.split('/')[-2]
        return pebble.Client(socket_path=socket_map[container])

    _ModelBackend.get_pebble = get_pebble
    spec = importlib.util.spec_from_file_location('charm', module_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules['charm'] = module
    spec.loader.exec_module(module)
    ops.main(getattr(module, class_name))


if __name__ == '__main__':
    main()
