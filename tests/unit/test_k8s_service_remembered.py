"""A requirer unit does not validate the same remote bytes twice.

`reader_step` returns, with valid data, a `ValidatedPayload` (a digest of the raw input and the
canonical JSON it decoded to); given it back in the next step, it rebuilds the same ServiceInfo
from it without validating, as long as the raw input is byte-identical. The requirer keeps it in
its StoredState. Anything else (new bytes, another version, invalid data) is validated as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0 import k8s_service as ks
from ops import testing

V2 = '{"name":"web","namespace":"shop","ports":[{"name":"http","port":8080,"protocol":"TCP"}]}'
V2_SAME_DATA = (
    '{"namespace":"shop","name":"web","ports":[{"port":8080,"name":"http","protocol":"TCP"}]}'
)
V1 = '{"name":"web","namespace":"shop","port":8080}'
BAG = {'versions': '[1,2]', 'version': '2', 'v1': V1, 'v2': V2}
SDI_BAG = {'_supported_versions': '- v1\n', 'data': "service-name: web.shop\nservice-port: '80'\n"}


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call to the validating decoders (they still do their work)."""
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            calls.append(name)
            return real(*args)

        return call

    ks.decode_payload.cache_clear()
    monkeypatch.setattr(ks, 'decode_payload', counted('payload', ks.decode_payload))
    monkeypatch.setattr(ks, 'decode_legacy', counted('legacy', ks.decode_legacy))
    return calls


def step(
    bag: Mapping[str, str],
    last: ks.ReaderResult | None = None,
    code: frozenset[int] = ks.SUPPORTED_VERSIONS | {0},
) -> ks.ReaderResult:
    return ks.reader_step(
        code,
        bag,
        last.token if last else None,
        remote_app='web',
        remembered=last.validated if last else None,
    )


def test_the_same_bytes_are_read_again_without_validation(validations: list[str]):
    first = step(BAG)
    assert validations == ['payload']
    assert first.validated is not None
    again = step(BAG, first)
    assert validations == ['payload']  # not validated again
    assert again.service == first.service
    assert again.version == 2
    assert again.token == first.token
    assert again.events == ()
    assert again.status == ks.StatusInfo('active')
    assert again.validated == first.validated


def test_the_result_without_memory_is_the_same(validations: list[str]):
    first = step(BAG)
    remembered = step(BAG, first)
    fresh = ks.reader_step(ks.SUPPORTED_VERSIONS | {0}, BAG, first.token, remote_app='web')
    assert remembered == fresh


def test_new_bytes_with_the_same_data_are_validated_and_emit_nothing(validations: list[str]):
    first = step(BAG)
    again = step({**BAG, 'v2': V2_SAME_DATA}, first)
    assert validations == ['payload', 'payload']
    assert again.service == first.service
    assert again.events == ()
    assert again.validated is not None
    assert again.validated.digest != (first.validated.digest if first.validated else None)


def test_invalid_bytes_are_never_remembered(validations: list[str]):
    first = step(BAG)
    bad_bag = {**BAG, 'v2': '{"name":"web","namespace":"shop","ports":[]}'}
    bad = step(bad_bag, first)
    assert bad.validated is None
    assert bad.events == ('removed',)
    assert bad.status.name == 'blocked'
    bad_again = ks.reader_step(
        ks.SUPPORTED_VERSIONS | {0}, bad_bag, bad.token, remote_app='web', remembered=None
    )
    assert bad_again.status == bad.status
    assert validations == ['payload', 'payload', 'payload']


def test_a_memo_is_bound_to_its_wire_version(validations: list[str]):
    # The v1 bytes are a valid v1 payload, but read as v2 they lack `ports`.
    as_v1 = step({'versions': '[1]', 'version': '1', 'v1': V1})
    assert as_v1.service is not None
    as_v2 = step({'versions': '[2]', 'version': '2', 'v2': V1}, as_v1)
    assert as_v2.service is None
    assert as_v2.status.message == 'invalid data from web: v2: ports: Field required'
    assert validations == ['payload', 'payload']


def test_a_memo_of_another_library_revision_is_not_used(
    validations: list[str], monkeypatch: pytest.MonkeyPatch
):
    first = step(BAG)
    monkeypatch.setattr(ks, '_VALIDATED_BY', 'charms.reconcile_libs.v0.k8s_service 0.2')
    again = step(BAG, first)
    assert validations == ['payload', 'payload']
    assert again.service == first.service


def test_a_memo_that_is_not_canonical_json_falls_back_to_validation(validations: list[str]):
    first = step(BAG)
    assert first.validated is not None
    for broken in ('not json', '{"name":"web"}', '{"name": "web", "ports": []}'):
        memo = ks.ValidatedPayload(first.validated.digest, broken)
        again = ks.reader_step(
            ks.SUPPORTED_VERSIONS | {0}, BAG, first.token, remote_app='web', remembered=memo
        )
        assert again.service == first.service
        assert again.validated == first.validated
    assert validations == ['payload'] * 4


def test_legacy_bags_are_remembered_too(validations: list[str]):
    first = step(SDI_BAG)
    assert first.version == 0
    assert first.service == ks.ServiceInfo('web', 'shop', (ks.ServicePort(port=80),))
    again = step({**SDI_BAG, 'unrelated': 'x'}, first)  # keys outside the dialects: same input
    assert again.service == first.service
    assert again.events == ()
    moved = step({**SDI_BAG, 'data': "service-name: web.shop\nservice-port: '81'\n"}, again)
    assert moved.events == ('changed',)
    assert validations == ['legacy', 'legacy']


# --- the requirer keeps the memo in its StoredState ---------------------------------------

META = {'name': 'proxy', 'requires': {'backend': {'interface': 'k8s-service'}}}
CHANGED: list[int | None] = []


class Consumer(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.backend = ks.K8sServiceRequirer(self, 'backend')
        framework.observe(self.backend.on.changed, self._on_changed)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)

    def _on_changed(self, event: ks.K8sServiceChangedEvent) -> None:
        service = self.backend.service(event.relation)
        CHANGED.append(service.port() if service else -1)

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        event.add_status(self.backend.get_status())


def _memos(state: testing.State) -> dict[str, Any]:
    stored = [s for s in state.stored_states if 'k8s-service-backend' in str(s.owner_path)]
    assert len(stored) == 1, state.stored_states
    return dict(stored[0].content['validated'])


def test_the_requirer_remembers_per_relation_and_forgets_broken_relations(
    validations: list[str],
):
    CHANGED.clear()
    ctx = testing.Context(Consumer, meta=META)
    relation = testing.Relation('backend', remote_app_name='web', remote_app_data=BAG)
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0), testing.State(relations={relation})
    )
    memos = _memos(out)
    assert set(memos) == {str(relation.id)}
    assert memos[str(relation.id)]['service_json'] == ks.canonical_json(
        ks.decode_payload(V2, 2).to_dict()
    )
    assert CHANGED == [8080]
    validated_once = len(validations)

    out = ctx.run(ctx.on.update_status(), out)
    assert len(validations) == validated_once  # same bytes: the memo is used
    assert out.unit_status == testing.ActiveStatus()

    moved = BAG | {'v2': V2.replace('8080', '9090')}
    changed_relation = dataclasses.replace(out.get_relation(relation.id), remote_app_data=moved)
    out = ctx.run(
        ctx.on.relation_changed(changed_relation, remote_unit=0),
        dataclasses.replace(out, relations={changed_relation}),
    )
    assert CHANGED == [8080, 9090]
    assert '9090' in _memos(out)[str(relation.id)]['service_json']

    out = ctx.run(ctx.on.relation_broken(out.get_relation(relation.id)), out)
    assert _memos(out) == {}
