"""Fixtures: one real etcd + kube-apiserver per test session (envtest style).

Missing binaries skip the tests with a reason naming scripts/build-envtest.sh (under CI=true the
top-level conftest turns that skip into a failure).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from k8s_envtest import EnvTest, make_client, missing_binaries_reason, start_envtest
from lightkube import Client
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType


@pytest.fixture(scope='session')
def envtest() -> Iterator[EnvTest]:
    reason = missing_binaries_reason()
    if reason:
        pytest.skip(reason)
    env = start_envtest()
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture(scope='session')
def admin(envtest: EnvTest) -> Iterator[Client]:
    """A cluster-admin client (group system:masters), field manager 'test-admin'."""
    client, _ = make_client(envtest, field_manager='test-admin')
    yield client
    client.close()


@pytest.fixture
def namespace(admin: Client) -> str:
    """A fresh namespace per test (envtest has no namespace controller: it is never emptied)."""
    name = f'model-{uuid.uuid4().hex[:8]}'
    admin.patch(
        Namespace,
        name,
        {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}},
        patch_type=PatchType.APPLY,
    )
    return name
