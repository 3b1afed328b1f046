"""Property tests of the k8s-service protocol core (pure functions over plain dicts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from charms.reconcile_libs.v0 import k8s_service as ks
from hypothesis import given, settings
from hypothesis import strategies as st

LIB = Path(__file__).resolve().parents[2] / 'lib'

labels = st.from_regex(r'[a-z]([-a-z0-9]{0,10}[a-z0-9])?', fullmatch=True)
version_sets = st.frozensets(st.integers(1, 6), min_size=1, max_size=4)
lib_version_sets = st.sampled_from([frozenset({1}), frozenset({2}), frozenset({1, 2})])


@st.composite
def services(draw: st.DrawFn) -> ks.ServiceInfo:
    count = draw(st.integers(1, 4))
    numbers = draw(st.lists(st.integers(1, 65535), min_size=count, max_size=count, unique=True))
    names = draw(st.lists(labels, min_size=count, max_size=count, unique=True))
    ports = tuple(
        ks.ServicePort(
            port=n,
            name=draw(st.sampled_from([None, name])),
            protocol=draw(st.sampled_from(['TCP', 'UDP', 'SCTP'])),
            app_protocol=draw(st.sampled_from([None, 'http', 'kubernetes.io/h2c'])),
        )
        for n, name in zip(numbers, names, strict=True)
    )
    return ks.ServiceInfo(draw(labels), draw(labels), ports)


def _payloads(service: ks.ServiceInfo, versions: frozenset[int]) -> dict[int, str]:
    return {v: ks.encode_payload(service, v) for v in versions}


# --- selection -------------------------------------------------------------------------------


@given(version_sets, version_sets)
def test_select_is_symmetric_and_the_highest_common(a: frozenset[int], b: frozenset[int]):
    chosen = ks.select_version(a, b)
    assert chosen == ks.select_version(b, a)
    assert chosen == ks.select_version(sorted(a, reverse=True), sorted(b))
    if a & b:
        assert chosen == max(a & b)
    else:
        assert chosen is None


# --- leader step -----------------------------------------------------------------------------


@st.composite
def remote_bags(draw: st.DrawFn) -> dict[str, str]:
    kind = draw(st.sampled_from(['empty', 'modern', 'legacy', 'garbage']))
    if kind == 'empty':
        return {}
    if kind == 'modern':
        bag = {'versions': json.dumps(sorted(draw(version_sets)))}
        if draw(st.booleans()):
            bag['version'] = str(draw(st.integers(1, 6)))
        return bag
    if kind == 'legacy':
        return {'name': 'mlmd', 'port': '8080'}
    return draw(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4))


@given(lib_version_sets, remote_bags(), services(), st.booleans())
def test_leader_step_is_idempotent(
    local: frozenset[int], remote: dict[str, str], service: ks.ServiceInfo, provider: bool
):
    payloads = _payloads(service, local) if provider else None
    own = {'unrelated': 'kept', 'v9': 'stale'}
    once = ks.leader_step(local, own, remote, payloads)
    twice = ks.leader_step(local, once, remote, payloads)
    assert once == twice
    assert ks.bag_changes(once, twice) == {}
    assert once['unrelated'] == 'kept'
    assert 'v9' not in once  # hygiene removes every v<N> outside the publish set


@given(lib_version_sets, version_sets, services())
def test_leader_publishes_exactly_the_common_versions(
    local: frozenset[int], remote: frozenset[int], service: ks.ServiceInfo
):
    bag = ks.leader_step(
        local, {}, {'versions': json.dumps(sorted(remote))}, _payloads(service, local)
    )
    published = {int(k[1:]) for k in bag if k.startswith('v') and k[1:].isdigit()}
    assert published == local & remote
    assert json.loads(bag['versions']) == sorted(local)
    if local & remote:
        assert json.loads(bag['version']) == max(local & remote)
    else:
        assert 'version' not in bag


@given(lib_version_sets, services())
def test_leader_publishes_optimistically_before_the_remote_speaks(
    local: frozenset[int], service: ks.ServiceInfo
):
    bag = ks.leader_step(local, {}, {}, _payloads(service, local))
    assert {f'v{v}' for v in local} <= set(bag)
    assert 'version' not in bag


def test_leader_step_serialization_is_canonical():
    service = ks.ServiceInfo(
        'web', 'shop', (ks.ServicePort(9090, 'metrics'), ks.ServicePort(80, 'http'))
    )
    bag = ks.leader_step({2, 1}, {}, {'versions': '[2,1]'}, _payloads(service, frozenset({1, 2})))
    assert bag == {
        'versions': '[1,2]',
        'version': '2',
        'v1': '{"name":"web","namespace":"shop","port":80}',
        'v2': '{"name":"web","namespace":"shop","ports":[{"name":"http","port":80,'
        '"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}',
    }


_SEED_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from charms.reconcile_libs.v0 import k8s_service as ks
ports = {ks.ServicePort(p, f'p{p}', 'UDP' if p % 2 else 'TCP') for p in range(1, 40, 3)}
service = ks.ServiceInfo('web', 'shop', tuple(ports))
versions = {2, 1}
payloads = {v: ks.encode_payload(service, v) for v in versions}
bag = ks.leader_step(versions, {}, {'versions': '[1,2]'}, payloads)
print(json.dumps(bag, sort_keys=True), service.fingerprint())
"""


def test_identical_bytes_across_hash_seeds():
    outputs = set()
    for seed in ('0', '1', '2', '12345', 'random'):
        env = {**os.environ, 'PYTHONHASHSEED': seed}
        result = subprocess.run(
            [sys.executable, '-c', _SEED_SCRIPT, str(LIB)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1, outputs


# --- wire versions ---------------------------------------------------------------------------


@given(services())
def test_v2_round_trips_exactly(service: ks.ServiceInfo):
    assert ks.decode_payload(ks.encode_payload(service, 2), 2) == service


@given(services())
def test_v1_round_trips_the_first_port(service: ks.ServiceInfo):
    decoded = ks.decode_payload(ks.encode_payload(service, 1), 1)
    assert (decoded.name, decoded.namespace) == (service.name, service.namespace)
    assert decoded.ports == (ks.ServicePort(service.ports[0].port),)


@given(services())
def test_fingerprint_ignores_port_order(service: ks.ServiceInfo):
    shuffled = ks.ServiceInfo(service.name, service.namespace, tuple(reversed(service.ports)))
    assert shuffled == service
    assert shuffled.fingerprint() == service.fingerprint()


# Old and new test vectors (OP083): these bytes must keep decoding to the same data forever.
VECTORS = [
    (
        1,
        '{"name":"web","namespace":"shop","port":8080}',
        ks.ServiceInfo('web', 'shop', (ks.ServicePort(8080),)),
    ),
    (
        2,
        '{"name":"web","namespace":"shop","ports":[{"port":53,"protocol":"UDP","name":"dns"},'
        '{"port":80,"app_protocol":"http"}],"future_field":1}',
        ks.ServiceInfo(
            'web',
            'shop',
            (ks.ServicePort(53, 'dns', 'UDP'), ks.ServicePort(80, None, 'TCP', 'http')),
        ),
    ),
]


@pytest.mark.parametrize(('version', 'raw', 'expected'), VECTORS)
def test_wire_vectors(version: int, raw: str, expected: ks.ServiceInfo):
    assert ks.decode_payload(raw, version) == expected


LEGACY_VECTORS = [
    (
        'sdi',
        {
            '_supported_versions': '- v1\n',
            'data': "service-name: kfp-api.kubeflow\nservice-port: '8888'\n",
        },
        ks.ServiceInfo('kfp-api', 'kubeflow', (ks.ServicePort(8888),)),
    ),
    (
        'sdi, unquoted port and .svc suffix',
        {
            '_supported_versions': '- v1',
            'data': 'service-name: kfp-ui.kubeflow.svc\nservice-port: 3000',
        },
        ks.ServiceInfo('kfp-ui', 'kubeflow', (ks.ServicePort(3000),)),
    ),
    (
        'mlops',
        {'name': 'mlmd', 'port': '8080'},
        ks.ServiceInfo('mlmd', None, (ks.ServicePort(8080),)),
    ),
    (
        'flat spec',
        {'service-name': 'kfp-viz.kubeflow', 'service-port': '8888'},
        ks.ServiceInfo('kfp-viz', 'kubeflow', (ks.ServicePort(8888),)),
    ),
]


@pytest.mark.parametrize(
    ('dialect', 'bag', 'expected'), LEGACY_VECTORS, ids=[v[0] for v in LEGACY_VECTORS]
)
def test_legacy_vectors(dialect: str, bag: dict[str, str], expected: ks.ServiceInfo):
    result = ks.reader_step({0, 1, 2}, bag, None)
    assert result.service == expected
    assert result.version == 0
    assert result.events == ('changed',)
    assert result.status.name == 'active'


@given(services())
def test_legacy_publishing_round_trips_through_each_legacy_reader(service: ks.ServiceInfo):
    first = service.ports[0].port
    for dialect in ks.LEGACY_DIALECTS:
        decoded = ks.decode_legacy(ks.encode_legacy(service, [dialect]))
        assert decoded is not None
        namespace = None if dialect == 'mlops' else service.namespace
        assert decoded == ks.ServiceInfo(service.name, namespace, (ks.ServicePort(first),))


def test_empty_bag_parses_to_waiting():
    result = ks.reader_step({0, 1, 2}, {}, None, remote_app='web')
    assert result.service is None
    assert result.status == ks.StatusInfo(
        'waiting', 'waiting for web to advertise protocol versions'
    )


# --- reader ----------------------------------------------------------------------------------


def test_reader_ignores_keys_the_remote_no_longer_advertises():
    """A rolled-back writer that left a stale v2 behind: readers must use v1 (research §9.5)."""
    stale = ks.encode_payload(ks.ServiceInfo('web', 'shop', (ks.ServicePort(1),)), 2)
    fresh = ks.encode_payload(ks.ServiceInfo('web', 'shop', (ks.ServicePort(2),)), 1)
    result = ks.reader_step(
        {1, 2}, {'versions': '[1]', 'version': '1', 'v1': fresh, 'v2': stale}, None
    )
    assert result.version == 1
    assert result.service is not None
    assert result.service.port() == 2


def test_version_switch_with_equal_content_emits_nothing():
    service = ks.ServiceInfo('web', 'shop', (ks.ServicePort(80),))
    v1 = ks.reader_step({1, 2}, {'versions': '[1]', 'v1': ks.encode_payload(service, 1)}, None)
    v2 = ks.reader_step(
        {1, 2}, {'versions': '[1,2]', 'v2': ks.encode_payload(service, 2)}, v1.token
    )
    assert (v1.version, v2.version) == (1, 2)
    assert v1.events == ('changed',)
    assert v2.events == ()


def test_removed_then_changed_on_withdraw_and_republish():
    service = ks.ServiceInfo('web', 'shop', (ks.ServicePort(80),))
    bag = {'versions': '[2]', 'v2': ks.encode_payload(service, 2)}
    first = ks.reader_step({2}, bag, None)
    gone = ks.reader_step({2}, {'versions': '[2]'}, first.token)
    back = ks.reader_step({2}, bag, gone.token)
    assert (first.events, gone.events, back.events) == (('changed',), ('removed',), ('changed',))


def test_incompatible_is_blocked_with_both_sets_and_remedy_on_the_leader_only():
    bag = {'versions': '[3]'}
    leader = ks.reader_step(
        {0, 1, 2}, bag, None, own_advertised={1, 2}, remote_app='web', local_app='proxy'
    )
    assert leader.status.name == 'blocked'
    assert leader.events == ('incompatible',)
    assert leader.status.message == (
        'no common protocol with web (proxy: v1, v2; web: v3); refresh proxy to a revision '
        'supporting v3, or web to one supporting v2'
    )
    again = ks.reader_step({0, 1, 2}, bag, leader.token, own_advertised={1, 2})
    assert again.events == ()  # once per transition
    follower = ks.reader_step({0, 1, 2}, bag, None, remote_app='web')
    assert follower.status.name == 'waiting'
    assert 'awaits a refresh' in follower.status.message


def test_provider_status_never_blocks_for_not_yet():
    assert ks.provider_status({1, 2}, {}, is_leader=True).name == 'waiting'
    not_confirmed = ks.provider_status(
        {1, 2}, {'versions': '[1]'}, is_leader=True, remote_app='proxy'
    )
    assert not_confirmed == ks.StatusInfo('waiting', 'waiting for proxy to confirm v1')
    confirmed = ks.provider_status({1, 2}, {'versions': '[1]', 'version': '1'}, is_leader=True)
    assert confirmed.name == 'active'
    disjoint = ks.provider_status(
        {2}, {'versions': '[1]'}, is_leader=True, remote_app='proxy', local_app='web'
    )
    assert disjoint.name == 'blocked'
    assert 'web: v2' in disjoint.message
    assert 'proxy: v1' in disjoint.message
    assert 'refresh proxy to a revision supporting v2' in disjoint.message


def test_provider_status_names_an_sdi_peer_and_the_fix():
    status = ks.provider_status(
        {1, 2}, {'_supported_versions': '- v1\n'}, is_leader=True, remote_app='kfp-ui'
    )
    assert status.name == 'blocked'
    assert "legacy_dialects=['sdi']" in status.message
    ok = ks.provider_status(
        {1, 2}, {'_supported_versions': '- v1\n'}, is_leader=True, legacy_dialects=['sdi']
    )
    assert ok.name == 'active'


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('service', 'field'),
    [
        (ks.ServiceInfo('Web', 'shop', (ks.ServicePort(80),)), 'v1: name'),
        (ks.ServiceInfo('web', 'a' * 64, (ks.ServicePort(80),)), 'v1: namespace'),
        (ks.ServiceInfo('web', 'shop', (ks.ServicePort(0),)), 'v1: port'),
        (
            ks.ServiceInfo('web', 'shop', (ks.ServicePort(80), ks.ServicePort(65536))),
            'v2: ports[1].port',
        ),
        (
            ks.ServiceInfo('web', 'shop', (ks.ServicePort(80, protocol='ICMP'),)),
            'v2: ports[0].protocol',
        ),
        (
            ks.ServiceInfo('web', 'shop', (ks.ServicePort(80, 'a'), ks.ServicePort(80, 'b'))),
            'v2: ports',
        ),
        (ks.ServiceInfo('web', 'shop', ()), 'v1: port'),
    ],
)
def test_invalid_services_name_the_field(service: ks.ServiceInfo, field: str):
    problem = ks.validate_service(service, {1, 2})
    assert problem is not None
    assert problem.field == field


def test_payload_size_is_bounded():
    raw = '{"name":"web","namespace":"shop","ports":[' + ','.join(['{"port":1}'] * 2000) + ']}'
    with pytest.raises(ks.InvalidDataError) as info:
        ks.decode_payload(raw, 2)
    assert info.value.problem.field == 'v2'
    assert 'bytes' in info.value.problem.message


def test_too_many_ports_is_invalid():
    ports = tuple(ks.ServicePort(p) for p in range(1, ks.MAX_PORTS + 2))
    problem = ks.validate_service(ks.ServiceInfo('web', 'shop', ports), {2})
    assert problem is not None
    assert problem.field == 'v2: ports'


# --- fuzzing the remote bag ------------------------------------------------------------------

junk_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            '',
            '[',
            '{}',
            '[]',
            'null',
            '"x"',
            '[1,"2"]',
            '[true]',
            '[0]',
            '[-1]',
            '1e9',
            '- v1\n',
            'a: [',
            '{"name":1}',
            '!!python/object:os.system x',
        ]
    ),
    st.integers(16000, 40000).map(lambda n: '[' + '1,' * n + '1]'),
    # hostile nesting and integers past int()'s digit limit, in JSON and YAML alike
    st.integers(400, 8000).map(lambda n: '[' * n + ']' * n),
    st.integers(400, 3000).map(lambda n: '{a: ' * n + '1' + '}' * n),
    st.integers(4301, 8000).map(lambda n: '1' * n),
    st.integers(4301, 8000).map(lambda n: f'service-name: web\nservice-port: {"1" * n}'),
    st.builds(
        json.dumps,
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda c: (
                st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3)
            ),
            max_leaves=8,
        ),
    ),
)
keys = st.sampled_from(
    [
        'versions',
        'version',
        'v0',
        'v1',
        'v2',
        'v3',
        'v10',
        '_supported_versions',
        'data',
        'name',
        'port',
        'service-name',
        'service-port',
        'other',
    ]
)


@settings(max_examples=400)
@given(
    st.dictionaries(keys, junk_values, max_size=6),
    st.sampled_from([None, 'data:x', 'incompatible']),
    st.booleans(),
)
def test_fuzzed_remote_bags_never_raise(bag: dict[str, str], last: str | None, leader: bool):
    result = ks.reader_step(
        {0, 1, 2}, bag, last, own_advertised={1, 2} if leader else None, remote_app='web'
    )
    if result.status.name == 'blocked' and 'invalid data' in result.status.message:
        # the message names a field path after the app
        field = result.status.message.split('invalid data from web: ', 1)[1]
        assert field.split(':')[0].split('.')[0].split('[')[0] in {
            'versions',
            'v1',
            'v2',
            'data',
            'name',
            'port',
            'service-name',
            'service-port',
        }, field
    assert (result.service is None) == (result.version is None)
    ks.provider_status({1, 2}, bag, is_leader=leader)
    new = ks.leader_step({1, 2}, {}, bag, None)
    assert json.loads(new['versions']) == [1, 2]


def _deep(kind: str, depth: int) -> str:
    """`depth` nested collections in at most 16 KiB (the payload limit), for YAML and JSON."""
    if kind == 'list':
        return '[' * depth + ']' * depth
    if kind == 'map':
        return '{"a": ' * (depth // 3) + '1' + '}' * (depth // 3)
    return '- ' * depth + 'x'  # YAML block sequences


@st.composite
def hostile_legacy_bags(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    """An SDI bag whose YAML `data` nests too deeply or holds an int beyond int()'s limit."""
    huge = '1' * draw(st.integers(4301, 12000))
    deep = _deep(draw(st.sampled_from(['list', 'map', 'block'])), draw(st.integers(1100, 8000)))
    data = draw(
        st.sampled_from(
            [
                f'service-name: web\nservice-port: {huge}\n',
                f'service-name: {huge}\nservice-port: 80\n',
                f'service-name: web\nservice-port: 1:{huge}\n',
                f'service-name: web\nservice-port: {deep}\n',
                f'service-name: {deep}\nservice-port: 80\n',
                deep,
                huge,
            ]
        )
    )
    return {'_supported_versions': '- v1\n', 'data': data}, 'data'


@st.composite
def hostile_json_bags(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    """A modern bag whose `v<N>` or `versions` JSON nests too deeply or holds a huge integer."""
    version = draw(st.sampled_from([1, 2]))
    huge = '1' * draw(st.integers(4301, 12000))
    deep = _deep(draw(st.sampled_from(['list', 'map'])), draw(st.integers(1100, 8000)))
    ports = {1: ('port', huge), 2: ('ports', f'[{{"port": {huge}}}]')}[version]
    payload = draw(
        st.sampled_from(
            [
                f'{{"name": "web", "namespace": "shop", "{ports[0]}": {ports[1]}}}',
                f'{{"name": "web", "namespace": "shop", "{ports[0]}": {deep}}}',
                f'{{"name": {huge}, "namespace": "shop", "{ports[0]}": 80}}',
                deep,
                huge,
            ]
        )
    )
    if draw(st.booleans()):
        return {'versions': f'[{version}]', f'v{version}': payload}, f'v{version}'
    versions = draw(st.sampled_from(['[' * 500 + ']' * 500, '[' * 1024, '1' * 1024]))
    return {'versions': versions, 'version': '[' * 16, f'v{version}': payload}, 'versions'


@settings(max_examples=60, deadline=None)
@given(st.one_of(hostile_legacy_bags(), hostile_json_bags()), st.booleans())
def test_hostile_nesting_and_huge_integers_are_blocked_naming_the_field(
    case: tuple[dict[str, str], str], leader: bool
):
    bag, field = case
    result = ks.reader_step(
        {0, 1, 2},
        bag,
        'data:previous',
        own_advertised={1, 2} if leader else None,
        remote_app='web',
    )
    assert result.status.name == 'blocked', result.status
    assert result.status.message.startswith(f'invalid data from web: {field}'), result.status
    assert result.service is None
    assert result.events == ('removed',)


@pytest.mark.parametrize(
    ('bag', 'field'),
    [
        ({'versions': '[1,'}, 'versions'),
        ({'versions': '["1"]'}, 'versions[0]'),
        (
            {'versions': '[2]', 'v2': '{"name":"web","namespace":"shop","ports":[{"port":"80"}]}'},
            'v2: ports[0].port',
        ),
        ({'versions': '[2]', 'v2': '{"name":"web","namespace":"shop","ports":[]}'}, 'v2: ports'),
        ({'versions': '[1]', 'v1': 'not json'}, 'v1'),
        ({'versions': '[1]', 'v1': '{"name":"web","port":80}'}, 'v1: namespace'),
        ({'_supported_versions': '- v1', 'data': 'a: ['}, 'data'),
        (
            {'_supported_versions': '- v1', 'data': 'service-name: web\nservice-port: 70000'},
            'data.service-port',
        ),
        ({'name': 'web', 'port': 'eighty'}, 'port'),
        ({'service-name': 'WEB', 'service-port': '80'}, 'service-name'),
    ],
)
def test_invalid_remote_data_is_blocked_naming_the_field(bag: dict[str, str], field: str):
    result = ks.reader_step({0, 1, 2}, bag, 'data:previous', remote_app='web')
    assert result.status.name == 'blocked'
    assert result.status.message.startswith(f'invalid data from web: {field}:') or (
        result.status.message == f'invalid data from web: {field}: not valid JSON'
    ), result.status.message
    assert result.service is None
    assert result.events == ('removed',)
