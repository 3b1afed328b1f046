"""docs/k8s-service-interface.md cannot drift from the k8s_service lib.

Each `<!-- vectors:<group> -->` JSON block in the spec must equal what
scripts/gen_k8s_service_vectors.py computes by running the lib's pure functions today; the
remaining tests read the spec's own vectors and check the properties the spec states with them.
After a deliberate protocol change, regenerate the blocks with
`python scripts/gen_k8s_service_vectors.py --update-doc` (and review the diff: it is the change
other implementers will see).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from charms.reconcile_libs.v0 import k8s_service as ks

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / 'scripts' / 'gen_k8s_service_vectors.py'


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location('gen_k8s_service_vectors', GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

SPEC = ROOT / 'docs' / 'k8s-service-interface.md'
COMPUTED = gen.vectors()


def spec_vectors() -> dict[str, Any]:
    return {group: json.loads(body) for group, body in gen.doc_blocks(SPEC.read_text()).items()}


@pytest.mark.parametrize('group', sorted(COMPUTED))
def test_the_specs_vectors_are_what_the_lib_computes(group: str) -> None:
    blocks = gen.doc_blocks(SPEC.read_text())
    assert group in blocks, f'the spec has no <!-- vectors:{group} --> block'
    assert json.loads(blocks[group]) == COMPUTED[group], (
        f'docs/k8s-service-interface.md vectors:{group} differ from the lib; if the change is '
        'intended, run: python scripts/gen_k8s_service_vectors.py --update-doc'
    )


def test_the_spec_has_no_unknown_vector_blocks() -> None:
    assert set(spec_vectors()) == set(COMPUTED)


def test_spec_encodings_decode_back_to_the_canonical_model() -> None:
    for case in spec_vectors()['encode_payload']:
        service = gen.service_from(case['service'])
        assert ks.decode_payload(case['v2'], 2) == service
        first = service.ports[0]
        v1 = ks.decode_payload(case['v1'], 1)
        assert (v1.name, v1.namespace, v1.ports) == (
            service.name,
            service.namespace,
            (ks.ServicePort(port=first.port),),
        )


def test_spec_payloads_are_canonical_json() -> None:
    for case in spec_vectors()['encode_payload']:
        for key in ('v1', 'v2'):
            assert ks.canonical_json(json.loads(case[key])) == case[key]


def test_spec_negotiations_end_quiet_with_both_sides_agreeing() -> None:
    for case in spec_vectors()['negotiation']:
        last = case['rounds'][-1]
        assert last['provider_writes'] == {}, case['title']
        assert last['requirer_writes'] == {}, case['title']
        expected = ks.select_version(case['provider'], case['requirer'])
        reads = last['requirer_reads']
        if expected is None:
            assert reads['status']['name'] == 'blocked', case['title']
        else:
            assert reads['version'] == expected, case['title']
            # The requirer had data from the first turn on (the provider publishes optimistically).
            assert case['rounds'][0]['requirer_reads']['service'] is not None, case['title']


def test_spec_readers_never_read_a_version_the_provider_does_not_advertise() -> None:
    for case in spec_vectors()['reader']:
        version = case['result']['version']
        if version not in (None, 0):
            assert version in json.loads(case['bag']['versions'])
            assert version in case['code_versions']
