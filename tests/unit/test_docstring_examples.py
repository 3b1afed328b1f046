"""Every ```python block in the four libs' module docstrings (their Charmhub docs) runs.

Each block is exec'd on its own, in a fresh namespace, so a missing import or an undefined name
fails here instead of in a charm author's editor. The Pebble examples' charms are then run through
ops.testing, to show that what the docs promise happens.

A block listed in KNOWN_BROKEN is marked xfail(strict=True) (none is today), with the
reason: it fails the suite as soon as it is fixed, so the mark is removed then.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing

LIB_DIR = Path(__file__).resolve().parents[2] / 'lib' / 'charms' / 'reconcile_libs' / 'v0'
LIBS = ('reconciler', 'pebble_components', 'k8s_service', 'kubernetes_components')

# (lib, block index) -> why that block is known not to run; empty when every example runs.
KNOWN_BROKEN: dict[tuple[str, int], str] = {}


def python_blocks(lib: str) -> list[str]:
    """The ```python blocks of the lib's module docstring, read without importing the lib."""
    docstring = ast.get_docstring(ast.parse((LIB_DIR / f'{lib}.py').read_text())) or ''
    return re.findall(r'```python\n(.*?)```', docstring, re.S)


def run_block(lib: str, index: int) -> dict[str, Any]:
    """Exec one block as a fresh module (like a charm's src/charm.py); returns its namespace."""
    module = types.ModuleType(f'docstring_example_{lib}_{index}')
    sys.modules[module.__name__] = module  # dataclasses look their module up
    source = python_blocks(lib)[index]
    filename = f'<{lib} docstring, python block {index}>'
    # dont_inherit: this test file's `from __future__ import annotations` must not leak in.
    code = compile(source, filename, 'exec', dont_inherit=True)
    exec(code, module.__dict__)  # running our own documentation is the point
    return module.__dict__


def _block_params() -> list[Any]:
    params: list[Any] = []
    for lib in LIBS:
        for index in range(len(python_blocks(lib))):
            reason = KNOWN_BROKEN.get((lib, index))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(lib, index, id=f'{lib}-{index}', marks=marks))
    return params


@pytest.mark.parametrize('lib', LIBS)
def test_every_lib_documents_itself_with_a_python_example(lib: str) -> None:
    assert python_blocks(lib), f'{lib}.py has no ```python block in its module docstring'


@pytest.mark.parametrize(('lib', 'index'), _block_params())
def test_docstring_example_runs_in_a_fresh_namespace(lib: str, index: int) -> None:
    namespace = run_block(lib, index)
    charms = [value for value in namespace.values() if _is_charm_class(value)]
    assert charms, f'{lib} block {index} defines no charm class'


def _is_charm_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, ops.CharmBase)


# ---- the Pebble examples, run as charms -------------------------------------------------------


def _pebble_example(class_name: str) -> type[ops.CharmBase]:
    for index, block in enumerate(python_blocks('pebble_components')):
        if f'class {class_name}(' in block:
            return run_block('pebble_components', index)[class_name]
    raise AssertionError(f'no pebble_components example defines {class_name}')


def test_pebble_quick_start_runs_the_web_service() -> None:
    charm = _pebble_example('WebCharm')
    ctx = testing.Context(
        charm,
        meta={'name': 'web', 'containers': {'web': {}}},
        config={'options': {'port': {'type': 'int', 'default': 8000}}},
    )
    web = testing.Container('web', can_connect=True)
    out = ctx.run(ctx.on.pebble_ready(web), testing.State(containers={web}))
    container = out.get_container('web')
    assert container.plan.services['web'].command == 'python3 -m http.server 8000'
    assert container.service_statuses['web'] == ops.pebble.ServiceStatus.ACTIVE
    assert container.plan.checks['web-up'].http == {'url': 'http://localhost:8000/'}
    assert out.unit_status == testing.ActiveStatus()


PROXY_META: dict[str, Any] = {'name': 'proxy', 'containers': {'app': {}, 'proxy': {}}}
PROXY_CONFIG: dict[str, Any] = {
    'options': {
        'log-level': {'type': 'string', 'default': 'info'},
        'port': {'type': 'int', 'default': 8000},
    }
}


def _proxy_state(**config: Any) -> testing.State:
    app = testing.Container('app', can_connect=True, execs={testing.Exec(['app', 'migrate'])})
    proxy = testing.Container('proxy', can_connect=True)
    return testing.State(containers={app, proxy}, config=config)


def test_pebble_complete_example_runs_both_workloads() -> None:
    ctx = testing.Context(_pebble_example('ProxyCharm'), meta=PROXY_META, config=PROXY_CONFIG)
    out = ctx.run(ctx.on.config_changed(), _proxy_state())

    assert out.unit_status == testing.ActiveStatus()
    app = out.get_container('app')
    assert app.plan.services['app'].environment == {'LOG_LEVEL': 'info'}
    assert app.service_statuses['app'] == ops.pebble.ServiceStatus.ACTIVE
    assert (app.get_filesystem(ctx) / 'etc/app/app.toml').read_text() == 'port = 8080'
    assert [process.command for process in ctx.exec_history['app']] == [['app', 'migrate']]
    proxy = out.get_container('proxy')
    assert proxy.service_statuses['nginx'] == ops.pebble.ServiceStatus.ACTIVE
    conf = (proxy.get_filesystem(ctx) / 'etc/nginx/conf.d/default.conf').read_text()
    assert 'listen 8000;' in conf
    assert 'proxy_pass http://localhost:8080;' in conf


def test_pebble_complete_example_blocks_on_a_bad_log_level() -> None:
    ctx = testing.Context(_pebble_example('ProxyCharm'), meta=PROXY_META, config=PROXY_CONFIG)
    out = ctx.run(ctx.on.config_changed(), _proxy_state(**{'log-level': 'loud'}))
    assert out.unit_status.name == 'blocked'
    assert out.unit_status.message.startswith("[app] log-level must be debug or info, not 'loud'")
