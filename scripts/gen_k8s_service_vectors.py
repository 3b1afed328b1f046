"""Print (or refresh in the spec) the k8s-service test vectors, computed by the lib itself.

    python scripts/gen_k8s_service_vectors.py                 # all vectors as one JSON document
    python scripts/gen_k8s_service_vectors.py --update-doc    # rewrite them in the spec

Every vector is produced by running the pure functions of
`lib/charms/reconcile_libs/v0/k8s_service.py` (encode_payload, decode_payload, decode_legacy,
encode_legacy, select_version, leader_step, reader_step) on fixed inputs.
docs/k8s-service-interface.md holds one JSON block per group, each after a
`<!-- vectors:<group> -->` marker; tests/unit/test_k8s_service_spec.py fails when a block differs
from what this script computes, so the spec cannot drift from the code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'lib'))

from charms.reconcile_libs.v0 import k8s_service as ks  # noqa: E402

DOC = ROOT / 'docs' / 'k8s-service-interface.md'
MARKER = re.compile(r'<!-- vectors:(?P<group>[a-z_]+) -->\n```json\n(?P<body>.*?)\n```', re.S)

# Inputs -------------------------------------------------------------------------------------

SERVICES: list[dict[str, Any]] = [
    {
        'name': 'web',
        'namespace': 'shop',
        'ports': [{'port': 8080, 'name': 'http', 'protocol': 'TCP', 'app_protocol': 'http'}],
    },
    {
        # Ports given out of order: the canonical order is by name, then number.
        'name': 'api',
        'namespace': 'shop',
        'ports': [
            {'port': 9090, 'name': 'metrics', 'protocol': 'TCP', 'app_protocol': None},
            {'port': 8443, 'name': 'https', 'protocol': 'TCP', 'app_protocol': 'https'},
            {'port': 53, 'name': 'dns', 'protocol': 'UDP', 'app_protocol': None},
        ],
    },
    {'name': 'db', 'namespace': 'data', 'ports': [{'port': 5432, 'name': None}]},
]

PAYLOADS: list[tuple[int, str]] = [
    (1, '{"name":"web","namespace":"shop","port":8080}'),
    (1, '{"namespace":"shop","port":8080,"name":"web","extra":"ignored"}'),
    (2, '{"name":"web","namespace":"shop","ports":[{"port":8080}]}'),
    (
        2,
        '{"name":"api","namespace":"shop","ports":[{"name":"metrics","port":9090},'
        '{"app_protocol":"https","name":"https","port":8443,"protocol":"TCP"}]}',
    ),
    (1, '{"name":"web","namespace":"shop","port":0}'),
    (1, '{"name":"web","namespace":"shop","port":"8080"}'),
    (1, '{"name":"Web_1","namespace":"shop","port":8080}'),
    (2, '{"name":"web","namespace":"shop","ports":[]}'),
    (2, '{"name":"web","namespace":"shop","ports":[{"port":80},{"port":80}]}'),
    (2, '{"name":"web","namespace":"shop","ports":[{"port":80,"protocol":"HTTP"}]}'),
    (2, 'not json'),
]

LEGACY_BAGS: list[dict[str, str]] = [
    {'_supported_versions': '- v1\n', 'data': "service-name: web.shop\nservice-port: '8080'\n"},
    {'_supported_versions': '- v1\n'},
    {'name': 'web', 'port': '8080'},
    {'service-name': 'web.shop.svc.cluster.local', 'service-port': '8080'},
    {'service-name': 'web', 'service-port': '70000'},
    {'unrelated': 'x'},
]

VERSION_PAIRS: list[tuple[list[int], list[int]]] = [
    ([1, 2], [1, 2]),
    ([1, 2], [1]),
    ([2], [1, 2, 3]),
    ([2], [1]),
]

NEGOTIATIONS: list[dict[str, Any]] = [
    {'title': 'both sides speak v1 and v2', 'provider': [1, 2], 'requirer': [1, 2]},
    {'title': 'an older requirer (v1 only)', 'provider': [1, 2], 'requirer': [1]},
    {'title': 'no common version', 'provider': [2], 'requirer': [1]},
]

WEB = {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 8080, 'name': 'http'}]}


# Helpers ------------------------------------------------------------------------------------


def service_from(spec: Mapping[str, Any]) -> ks.ServiceInfo:
    ports = tuple(
        ks.ServicePort(
            port=p['port'],
            name=p.get('name'),
            protocol=p.get('protocol', 'TCP'),
            app_protocol=p.get('app_protocol'),
        )
        for p in spec['ports']
    )
    return ks.ServiceInfo(spec['name'], spec['namespace'], ports)


def status_json(status: ks.StatusInfo) -> dict[str, str]:
    return {'name': status.name, 'message': status.message}


def decoded(call: Any) -> dict[str, Any]:
    """{'service': ...} or {'error_field': ...} for a decode call."""
    try:
        service = call()
    except ks.InvalidDataError as error:
        return {'error_field': error.problem.field}
    return {'service': None if service is None else service.to_dict()}


# Vector groups ------------------------------------------------------------------------------


def encode_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in SERVICES:
        service = service_from(spec)
        out.append(
            {
                'service': spec,
                'v1': ks.encode_payload(service, 1),
                'v2': ks.encode_payload(service, 2),
            }
        )
    return out


def decode_vectors() -> list[dict[str, Any]]:
    return [
        {
            'version': version,
            'raw': raw,
            **decoded(lambda r=raw, v=version: ks.decode_payload(r, v)),
        }
        for version, raw in PAYLOADS
    ]


def legacy_decode_vectors() -> list[dict[str, Any]]:
    return [{'bag': bag, **decoded(lambda b=bag: ks.decode_legacy(b))} for bag in LEGACY_BAGS]


def legacy_encode_vectors() -> list[dict[str, Any]]:
    service = service_from(WEB)
    return [
        {'service': WEB, 'dialects': dialects, 'bag': ks.encode_legacy(service, dialects)}
        for dialects in (['sdi'], ['mlops'], ['flat'], ['sdi', 'mlops', 'flat'])
    ]


def selection_vectors() -> list[dict[str, Any]]:
    return [{'a': a, 'b': b, 'version': ks.select_version(a, b)} for a, b in VERSION_PAIRS]


def negotiation_trace(provider: list[int], requirer: list[int]) -> list[dict[str, Any]]:
    """Turns from empty bags until a whole turn changes nothing (at most 6).

    One turn: the provider leader runs leader_step, then the requirer leader does (seeing the
    provider's new bag), then a requirer unit runs reader_step on the provider bag.
    """
    service = service_from(WEB)
    payloads = {v: ks.encode_payload(service, v) for v in provider}
    provider_bag: dict[str, str] = {}
    requirer_bag: dict[str, str] = {}
    token: str | None = None
    steps: list[dict[str, Any]] = []
    quiet_turn = False
    turn = 0
    while not quiet_turn and turn < 6:
        turn += 1
        new_provider = ks.leader_step(provider, provider_bag, requirer_bag, payloads)
        provider_changes = ks.bag_changes(provider_bag, new_provider)
        provider_bag = new_provider
        new_requirer = ks.leader_step(requirer, requirer_bag, provider_bag)
        requirer_changes = ks.bag_changes(requirer_bag, new_requirer)
        requirer_bag = new_requirer
        result = ks.reader_step(
            set(requirer) | {0},
            provider_bag,
            token,
            own_advertised=requirer,
            remote_app='web',
            local_app='proxy',
        )
        token = result.token
        steps.append(
            {
                'turn': turn,
                'provider_writes': provider_changes,
                'requirer_writes': requirer_changes,
                'requirer_reads': {
                    'version': result.version,
                    'service': None if result.service is None else result.service.to_dict(),
                    'events': list(result.events),
                    'status': status_json(result.status),
                },
            }
        )
        quiet_turn = not provider_changes and not requirer_changes
    return steps


def negotiation_vectors() -> list[dict[str, Any]]:
    return [
        {**case, 'rounds': negotiation_trace(case['provider'], case['requirer'])}
        for case in NEGOTIATIONS
    ]


def reader_vectors() -> list[dict[str, Any]]:
    v1 = ks.encode_payload(service_from(WEB), 1)
    v2 = ks.encode_payload(service_from(WEB), 2)
    plain = service_from({'name': 'web', 'namespace': 'shop', 'ports': [{'port': 8080}]})
    plain_v1, plain_v2 = ks.encode_payload(plain, 1), ks.encode_payload(plain, 2)
    cases: list[dict[str, Any]] = [
        {'code_versions': [0, 1, 2], 'previous_bag': None, 'bag': {}},
        {
            'code_versions': [0, 1, 2],
            'previous_bag': None,
            'bag': {'versions': '[1,2]', 'v1': v1, 'v2': v2},
        },
        {
            # The provider moved from v1 to v2 carrying the same data: no event.
            'code_versions': [0, 1, 2],
            'previous_bag': {'versions': '[1]', 'v1': plain_v1},
            'bag': {'versions': '[1,2]', 'version': '2', 'v2': plain_v2},
        },
        {
            # Same move, but v2 carries more (the port's name): the data changed.
            'code_versions': [0, 1, 2],
            'previous_bag': {'versions': '[1]', 'v1': v1},
            'bag': {'versions': '[1,2]', 'version': '2', 'v2': v2},
        },
        {
            # Readers take the highest version the provider advertises *now*, not their own.
            'code_versions': [0, 1, 2],
            'previous_bag': None,
            'bag': {'versions': '[1]', 'v1': v1, 'v2': v2},
        },
        {
            'code_versions': [0, 1],
            'previous_bag': None,
            'bag': {'versions': '[2]', 'v2': v2},
        },
        {
            'code_versions': [0, 1, 2],
            'previous_bag': {'versions': '[1,2]', 'v2': v2},
            'bag': {'versions': '[1,2]', 'v2': '{"name":"web","namespace":"shop","ports":[]}'},
        },
        {
            'code_versions': [0, 1, 2],
            'previous_bag': None,
            'bag': {'versions': 'two'},
        },
        {
            'code_versions': [0, 1, 2],
            'previous_bag': None,
            'bag': {'name': 'web', 'port': '8080'},
        },
        {
            'code_versions': [1, 2],
            'previous_bag': None,
            'bag': {'name': 'web', 'port': '8080'},
        },
    ]
    for case in cases:
        last = None
        if case['previous_bag'] is not None:
            last = ks.reader_step(case['code_versions'], case['previous_bag'], None).token
        result = ks.reader_step(
            case['code_versions'], case['bag'], last, remote_app='web', local_app='proxy'
        )
        case['result'] = {
            'version': result.version,
            'service': None if result.service is None else result.service.to_dict(),
            'events': list(result.events),
            'status': status_json(result.status),
        }
    return cases


def vectors() -> dict[str, Any]:
    """Every vector group, by the name of its marker in the spec."""
    return {
        'encode_payload': encode_vectors(),
        'decode_payload': decode_vectors(),
        'decode_legacy': legacy_decode_vectors(),
        'encode_legacy': legacy_encode_vectors(),
        'select_version': selection_vectors(),
        'negotiation': negotiation_vectors(),
        'reader': reader_vectors(),
    }


def render(group: list[dict[str, Any]]) -> str:
    return json.dumps(group, indent=2, sort_keys=True)


def doc_blocks(text: str) -> dict[str, str]:
    """The JSON text of every vectors block in the spec, by group."""
    return {m['group']: m['body'] for m in MARKER.finditer(text)}


def update_doc(path: Path) -> list[str]:
    """Rewrite the blocks in place; returns the groups that changed."""
    text = path.read_text()
    computed = vectors()
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        group = match['group']
        body = render(computed[group])
        if body != match['body']:
            changed.append(group)
        return f'<!-- vectors:{group} -->\n```json\n{body}\n```'

    path.write_text(MARKER.sub(replace, text))
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description='k8s-service test vectors, computed by the lib')
    parser.add_argument('--update-doc', action='store_true', help=f'rewrite the blocks in {DOC}')
    args = parser.parse_args()
    if args.update_doc:
        changed = update_doc(DOC)
        print(f'updated: {", ".join(changed)}' if changed else 'the spec is up to date')
        return
    print(json.dumps(vectors(), indent=2, sort_keys=True))


if __name__ == '__main__':
    main()
