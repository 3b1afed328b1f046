"""The provider validates its own Service without pydantic, by exactly the wire models' rules.

`encode_payload` checks a payload with a pure-Python function (`_conforms`) and loads pydantic
only to describe a payload that fails it. These properties keep the two from drifting: the pure
check and the pydantic wire model accept and reject the same payloads, and `encode_payload`
returns the same bytes (or the same problem) as validating every payload with pydantic did.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from charms.reconcile_libs.v0 import k8s_service as ks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# --- strategies -----------------------------------------------------------------------------

VALID_LABELS = st.from_regex(r'\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z')
LABELS = st.one_of(
    VALID_LABELS,
    st.sampled_from(
        [
            '',
            'Web',
            'web_1',
            '-web',
            'web-',
            'web\n',
            'a' * 63,
            'a' * 64,
            'wéb',
            'web.shop',
            ' web',
        ]
    ),
    st.text(max_size=70),
    # `$` in Python's re matches before a final newline; the models' (Rust) regex does not
    VALID_LABELS.map(lambda label: label + '\n'),
)
NAMES = st.one_of(st.none(), LABELS, st.integers(), st.booleans(), st.binary(max_size=4))
PORT_NUMBERS = st.one_of(
    st.integers(min_value=-2, max_value=70000),
    st.sampled_from([0, 1, 65535, 65536, True, False, 8080.0, '8080', None, 2**70]),
)
PROTOCOLS = st.one_of(
    st.sampled_from(['TCP', 'UDP', 'SCTP', 'tcp', 'HTTP', '', 'TCP\n', None, 1]), st.text()
)
APP_PROTOCOLS = st.one_of(
    st.none(),
    st.from_regex(r'\A[A-Za-z0-9][-A-Za-z0-9_./]{0,260}\Z'),
    st.sampled_from(
        [
            'http',
            'kubernetes.io/h2c',
            '-http',
            '_x',
            'h2 c',
            'http\n',
            'a' * 253,
            'a' * 254,
            '',
            3,
        ]
    ),
    st.text(max_size=10),
    st.sampled_from(['http', 'h2c', 'kubernetes.io/ws']).map(lambda value: value + '\n'),
)


def mostly(valid: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
    """Valid values 4 times in 5, so that one bad field at a time decides the outcome."""
    return st.integers(0, 4).flatmap(lambda n: anything if n == 0 else valid)


# Few distinct valid values, so duplicates (which the v2 model rejects) come up often.
SOME_NUMBERS = st.one_of(st.sampled_from([53, 80, 443]), st.integers(1, 65535))
SOME_PORT_NAMES = st.sampled_from([None, 'http', 'metrics', 'dns'])
SOME_PROTOCOLS = st.sampled_from(['TCP', 'UDP', 'SCTP'])
SOME_APP_PROTOCOLS = st.one_of(
    st.none(),
    st.sampled_from(['http', 'kubernetes.io/h2c', 'a' * 253]),
    st.from_regex(r'\A[A-Za-z0-9][-A-Za-z0-9_./]{0,20}\Z'),
)


@st.composite
def valid_ports(draw: st.DrawFn) -> dict[str, Any]:
    """A v2 port dict that is valid on its own (duplicates across a list may still occur)."""
    port: dict[str, Any] = {'port': draw(SOME_NUMBERS)}
    for key, values in (
        ('name', SOME_PORT_NAMES),
        ('protocol', SOME_PROTOCOLS),
        ('app_protocol', SOME_APP_PROTOCOLS),
    ):
        if draw(st.booleans()):
            port[key] = draw(values)
    return port


ANY_PORT_VALUE: dict[str, st.SearchStrategy[Any]] = {
    'port': PORT_NUMBERS,
    'name': NAMES,
    'protocol': PROTOCOLS,
    'app_protocol': APP_PROTOCOLS,
}
PORT_LISTS = st.one_of(
    st.lists(valid_ports(), max_size=2),
    st.sampled_from([None, [], (), ({'port': 80},), 'ports', [None], [8080], ['http']]),
)


def _mutate(draw: st.DrawFn, version: int, payload: dict[str, Any]) -> None:
    """Change one thing in `payload`: a field, a port's field, a duplicate, the port count."""
    kinds = ['name', 'extra'] + (['port'] if version == 1 else ['ports'])
    ports: Any = payload.get('ports')
    if type(ports) is list and ports and all(type(p) is dict for p in ports):
        kinds += ['port field', 'duplicate port', 'duplicate name', 'port count']
    kind = draw(st.sampled_from(kinds))
    if kind == 'name':
        payload[draw(st.sampled_from(['name', 'namespace']))] = draw(NAMES)
    elif kind == 'extra':
        payload['extra'] = draw(NAMES)
    elif kind == 'port':
        payload['port'] = draw(PORT_NUMBERS)
    elif kind == 'ports':
        payload['ports'] = draw(PORT_LISTS)
    else:
        index = draw(st.integers(0, len(ports) - 1))
        if kind == 'port field':
            key = draw(st.sampled_from(sorted(ANY_PORT_VALUE)))
            if draw(st.integers(0, 4)) == 0:
                ports[index].pop(key, None)
            else:
                ports[index][key] = draw(ANY_PORT_VALUE[key])
        elif kind == 'duplicate port':
            ports.append(dict(ports[index]))
        elif kind == 'duplicate name':
            ports.append({'port': 65535, 'protocol': 'SCTP', 'name': draw(SOME_PORT_NAMES)})
        else:
            start = 1 + max((p['port'] for p in ports if type(p.get('port')) is int), default=0)
            count = draw(st.integers(ks.MAX_PORTS - 1, ks.MAX_PORTS + 1)) - len(ports)
            ports.extend({'port': (start + i) % 65536} for i in range(max(count, 0)))


@st.composite
def wire_payloads(draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    """A (version, payload dict): a valid one with 0 to 2 things changed, which may break it."""
    version = draw(st.sampled_from([1, 2]))
    payload: dict[str, Any] = {'name': draw(VALID_LABELS), 'namespace': draw(VALID_LABELS)}
    if version == 1:
        payload['port'] = draw(SOME_NUMBERS)
    else:
        payload['ports'] = draw(st.lists(valid_ports(), min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 2))):
        _mutate(draw, version, payload)
    return version, payload


LABELS_MOSTLY_VALID = mostly(VALID_LABELS, NAMES)


@st.composite
def services(draw: st.DrawFn) -> ks.ServiceInfo:
    """ServiceInfo-like values, valid and invalid ones (ports' number types kept comparable)."""
    number_type = draw(st.sampled_from(['int', 'int', 'int', 'str']))
    numbers = (
        mostly(SOME_NUMBERS, st.integers(-2, 70000))
        if number_type == 'int'
        else st.sampled_from(['80', '8080', '0', 'http'])
    )
    ports = draw(
        st.lists(
            st.builds(
                ks.ServicePort,
                port=numbers,
                name=mostly(SOME_PORT_NAMES, st.sampled_from(['Http', 'a' * 64, 'a' * 63])),
                protocol=mostly(SOME_PROTOCOLS, st.sampled_from(['tcp', 'HTTP', ''])),
                app_protocol=mostly(
                    SOME_APP_PROTOCOLS, st.sampled_from(['-x', 'a b', 'a' * 254, 'h2\n'])
                ),
            ),
            max_size=4,
        )
    )
    namespace = draw(mostly(VALID_LABELS, st.one_of(st.none(), LABELS)))
    return ks.ServiceInfo(draw(LABELS_MOSTLY_VALID), namespace, tuple(ports))


# --- the reference: validating every payload with pydantic (the code before this change) ----


def pydantic_accepts(payload: dict[str, Any], version: int) -> bool:
    models = ks._wire_models()
    try:
        models.by_version[version].model_validate(payload)
    except models.validation_error:
        return False
    return True


def encode_with_pydantic(service: ks.ServiceInfo, version: int) -> str:
    """encode_payload as it was: the pydantic model validates every payload."""
    payload = ks._project(service, version)
    models = ks._wire_models()
    try:
        models.by_version[version].model_validate(payload)
    except models.validation_error as e:
        problem = ks._first_problem(e, f'v{version}')
        raise ks.InvalidDataError(problem) from None
    encoded = ks.canonical_json(payload)
    if len(encoded) > ks.MAX_PAYLOAD_BYTES:
        raise ks.InvalidDataError(
            ks.Problem(f'v{version}', f'payload of {len(encoded)} bytes > {ks.MAX_PAYLOAD_BYTES}')
        )
    return encoded


def outcome(encode: Any, service: ks.ServiceInfo, version: int) -> tuple[str, str]:
    try:
        return ('encoded', encode(service, version))
    except ks.InvalidDataError as e:
        return ('invalid', str(e.problem))


def conforms(payload: dict[str, Any], version: int) -> bool:
    return ks._conforms(payload, version)


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_payloads())
def test_pure_check_and_pydantic_accept_the_same_payloads(case: tuple[int, dict[str, Any]]):
    version, payload = case
    assert conforms(payload, version) == pydantic_accepts(payload, version), payload


@settings(max_examples=300, deadline=None)
@given(services(), st.sampled_from([1, 2]))
def test_encode_payload_gives_what_the_pydantic_path_gave(service: ks.ServiceInfo, version: int):
    assert outcome(ks.encode_payload, service, version) == outcome(
        encode_with_pydantic, service, version
    )


EDGE_PAYLOADS: list[tuple[int, dict[str, Any], bool]] = [
    (1, {'name': 'web', 'namespace': 'shop', 'port': 8080}, True),
    (1, {'name': 'web', 'namespace': None, 'port': 8080}, False),
    (1, {'name': 'web\n', 'namespace': 'shop', 'port': 8080}, False),
    (1, {'name': 'a' * 63, 'namespace': 'shop', 'port': 8080}, True),
    (1, {'name': 'a' * 64, 'namespace': 'shop', 'port': 8080}, False),
    (1, {'name': 'web', 'namespace': 'shop', 'port': True}, False),
    (1, {'name': 'web', 'namespace': 'shop', 'port': 65535}, True),
    (1, {'name': 'web', 'namespace': 'shop', 'port': 65536}, False),
    (1, {'name': 'web', 'namespace': 'shop', 'port': None}, False),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': []}, False),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': ({'port': 80},)}, False),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80, 'name': None}]}, True),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80, 'protocol': None}]}, False),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80}, {'port': 80}]}, False),
    (
        2,
        {
            'name': 'web',
            'namespace': 'shop',
            'ports': [{'port': 53, 'protocol': 'UDP'}, {'port': 53, 'protocol': 'TCP'}],
        },
        True,
    ),
    (
        2,
        {
            'name': 'web',
            'namespace': 'shop',
            'ports': [{'port': 80, 'name': 'x'}, {'port': 81, 'name': 'x'}],
        },
        False,
    ),
    (
        2,
        {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80, 'app_protocol': 'a' * 253}]},
        True,
    ),
    (
        2,
        {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80, 'app_protocol': 'a' * 254}]},
        False,
    ),
    (
        2,
        {'name': 'web', 'namespace': 'shop', 'ports': [{'port': 80, 'app_protocol': 'h2\n'}]},
        False,
    ),
    (2, {'name': 'web', 'namespace': 'shop', 'ports': [{'name': 'http'}]}, False),
]


@pytest.mark.parametrize(('version', 'payload', 'valid'), EDGE_PAYLOADS)
def test_edge_payloads_are_judged_alike(version: int, payload: dict[str, Any], valid: bool):
    assert pydantic_accepts(payload, version) == valid, 'the reference itself moved'
    assert conforms(payload, version) == valid


def test_max_ports_is_the_bound_on_both_sides():
    ports = [{'port': 1000 + i} for i in range(ks.MAX_PORTS)]
    at_bound = {'name': 'web', 'namespace': 'shop', 'ports': ports}
    over = {'name': 'web', 'namespace': 'shop', 'ports': [*ports, {'port': 999}]}
    assert conforms(at_bound, 2)
    assert pydantic_accepts(at_bound, 2)
    assert not conforms(over, 2)
    assert not pydantic_accepts(over, 2)


def test_an_invalid_service_still_names_the_field_as_pydantic_does():
    service = ks.ServiceInfo('web', 'shop', (ks.ServicePort(port=0, name='http'),))
    with pytest.raises(ks.InvalidDataError) as raised:
        ks.encode_payload(service, 2)
    assert str(raised.value.problem) == (
        'v2: ports[0].port: Input should be greater than or equal to 1'
    )


def test_an_oversized_payload_is_still_rejected_by_size():
    ports = tuple(
        ks.ServicePort(port=1000 + i, name=f'p{i}', app_protocol='a' * 250) for i in range(64)
    )
    service = ks.ServiceInfo('web', 'shop', ports)
    encoded = json.dumps(ks._project(service, 2))
    assert len(encoded) > ks.MAX_PAYLOAD_BYTES  # the case is what it claims to be
    with pytest.raises(ks.InvalidDataError, match=r'^v2: payload of \d+ bytes > 16384$'):
        ks.encode_payload(service, 2)
