"""KubernetesResources against a real kube-apiserver + etcd.

The charm side runs through ops.testing (there is no Juju here); every Kubernetes call goes to
the real API server started by the session fixture. Each test has its own namespace (= model)
and its own CRD group, so tests do not see each other's objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ops
import pytest
from charms.reconcile_libs.v0.kubernetes_components import (
    CrdPolicy,
    KubernetesResources,
    Manifest,
)
from charms.reconcile_libs.v0.reconciler import CharmReconciler
from k8s_envtest import EnvTest, RecordingTransport, make_client
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Service
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType
from ops import testing

APP = 'app'


# ---- helpers --------------------------------------------------------------------------------


def run_hook(
    client: Client,
    objects: Iterable[Manifest],
    namespace: str,
    *,
    remove: bool = False,
    leader: bool = True,
    crd_policy: CrdPolicy = CrdPolicy.KEEP,
    unit_id: int = 0,
) -> testing.State:
    """Dispatch config-changed (or remove) to a charm whose only component is under test."""
    desired = list(objects)

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            self.reconciler.add(
                KubernetesResources('k8s', desired, client=client, crd_policy=crd_policy)
            )

    ctx = testing.Context(Charm, meta={'name': APP}, unit_id=unit_id)
    # on `remove`, the last unit goes: the reconciler runs leader-only removals only then
    state = testing.State(
        leader=leader, planned_units=0 if remove else 1, model=testing.Model(name=namespace)
    )
    return ctx.run(ctx.on.remove() if remove else ctx.on.config_changed(), state)


@pytest.fixture
def charm_client(envtest: EnvTest, namespace: str) -> Iterable[tuple[Client, RecordingTransport]]:
    """The charm's client: cluster-admin rights, field manager set by the component."""
    client, transport = make_client(
        envtest, user='system:serviceaccount:charm', namespace=namespace
    )
    yield client, transport
    client.close()


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name}, 'data': data}


def service(name: str) -> dict[str, Any]:
    return {
        'apiVersion': 'v1',
        'kind': 'Service',
        'metadata': {'name': name},
        'spec': {'ports': [{'port': 80}], 'selector': {'app': name}},
    }


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        'apiVersion': 'apps/v1',
        'kind': 'Deployment',
        'metadata': {'name': name},
        'spec': {
            'replicas': replicas,
            'selector': {'matchLabels': {'app': name}},
            'template': {
                'metadata': {'labels': {'app': name}},
                'spec': {'containers': [{'name': 'web', 'image': 'nginx:1.27'}]},
            },
        },
    }


def widget_crd(group: str) -> dict[str, Any]:
    return {
        'apiVersion': 'apiextensions.k8s.io/v1',
        'kind': 'CustomResourceDefinition',
        'metadata': {'name': f'widgets.{group}'},
        'spec': {
            'group': group,
            'scope': 'Namespaced',
            'names': {
                'kind': 'Widget',
                'plural': 'widgets',
                'singular': 'widget',
                'listKind': 'WidgetList',
            },
            'versions': [
                {
                    'name': 'v1',
                    'served': True,
                    'storage': True,
                    'subresources': {'status': {}},
                    'schema': {
                        'openAPIV3Schema': {
                            'type': 'object',
                            'x-kubernetes-preserve-unknown-fields': True,
                        }
                    },
                }
            ],
        },
    }


def widget(group: str, name: str) -> dict[str, Any]:
    return {
        'apiVersion': f'{group}/v1',
        'kind': 'Widget',
        'metadata': {'name': name},
        'spec': {'size': 1},
    }


def widget_class(group: str) -> Any:
    return create_namespaced_resource(group, 'v1', 'Widget', 'widgets')


def group_for(namespace: str) -> str:
    return f'{namespace}.example.com'


def resource_versions(admin: Client, namespace: str, group: str) -> dict[str, str | None]:
    widgets = widget_class(group)
    return {
        'configmap': admin.get(
            ConfigMap, 'settings', namespace=namespace
        ).metadata.resourceVersion,  # type: ignore[union-attr]
        'service': admin.get(Service, 'web', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
        'deployment': admin.get(Deployment, 'web', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
        'crd': admin.get(CustomResourceDefinition, f'widgets.{group}').metadata.resourceVersion,  # type: ignore[union-attr]
        'widget': admin.get(widgets, 'w1', namespace=namespace).metadata.resourceVersion,
        'inventory': admin.get(
            ConfigMap, f'{APP}.k8s.inventory', namespace=namespace
        ).metadata.resourceVersion,  # type: ignore[union-attr]
    }


def admin_apply(admin: Client, resource: Any, body: dict[str, Any], namespace: str) -> None:
    admin.patch(
        resource, body['metadata']['name'], body, namespace=namespace, patch_type=PatchType.APPLY
    )


def exists(admin: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        admin.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise
    return True


def mixed_set(group: str) -> list[Manifest]:
    return [
        widget(group, 'w1'),  # declared before its CRD on purpose: the component orders them
        configmap('settings', mode='ours'),
        deployment('web'),
        service('web'),
        widget_crd(group),
    ]


# ---- tests ----------------------------------------------------------------------------------


def test_mixed_set_is_applied_and_reapplying_changes_nothing(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, transport = charm_client
    group = group_for(namespace)

    state = run_hook(client, mixed_set(group), namespace)

    # No controllers run in envtest, so the Deployment never gets ready replicas.
    assert state.unit_status == ops.WaitingStatus(
        f'[k8s] Deployment {namespace}/web: Updated: 0/1'
    )
    settings = admin.get(ConfigMap, 'settings', namespace=namespace)
    assert settings.data == {'mode': 'ours'}
    assert settings.metadata is not None
    managers = {(f.manager, f.operation) for f in settings.metadata.managedFields or []}
    assert managers == {(APP, 'Apply')}
    assert admin.get(widget_class(group), 'w1', namespace=namespace).spec == {'size': 1}
    before = resource_versions(admin, namespace, group)

    transport.calls.clear()
    state = run_hook(client, mixed_set(group), namespace)

    assert resource_versions(admin, namespace, group) == before
    methods = [method for method, _ in transport.calls]
    assert methods == ['GET'] + ['PATCH'] * 5  # inventory read + 5 no-op applies, no writes
    assert state.unit_status == ops.WaitingStatus(
        f'[k8s] Deployment {namespace}/web: Updated: 0/1'
    )


def test_dropping_one_object_deletes_exactly_that_object(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, transport = charm_client
    admin_apply(admin, ConfigMap, configmap('not-ours'), namespace)
    run_hook(client, [configmap('a', x='1'), configmap('b', x='2'), service('web')], namespace)
    kept_before = {
        'a': admin.get(ConfigMap, 'a', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
        'web': admin.get(Service, 'web', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
    }

    transport.calls.clear()
    state = run_hook(client, [configmap('a', x='1'), service('web')], namespace)

    assert state.unit_status == ops.ActiveStatus()
    deletes = [path for method, path in transport.calls if method == 'DELETE']
    assert deletes == [f'/api/v1/namespaces/{namespace}/configmaps/b']
    assert not exists(admin, ConfigMap, 'b', namespace)
    assert exists(admin, ConfigMap, 'not-ours', namespace)
    assert kept_before == {
        'a': admin.get(ConfigMap, 'a', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
        'web': admin.get(Service, 'web', namespace=namespace).metadata.resourceVersion,  # type: ignore[union-attr]
    }


def test_a_new_leader_prunes_what_the_old_leader_applied(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, _ = charm_client
    run_hook(client, [configmap('a'), configmap('b')], namespace, unit_id=0)

    # Another unit, with no unit-local state from unit 0, becomes leader and drops 'b'.
    run_hook(client, [configmap('a')], namespace, unit_id=1)

    assert exists(admin, ConfigMap, 'a', namespace)
    assert not exists(admin, ConfigMap, 'b', namespace)


def test_components_whose_names_sanitise_alike_keep_separate_inventories(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, _ = charm_client
    objects = {'a_b': 'cm-one', 'a-b': 'cm-two', 'Route': 'cm-three', 'route': 'cm-four'}

    class Charm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.reconciler = CharmReconciler(self)
            for component, name in objects.items():
                self.reconciler.add(
                    KubernetesResources(component, [configmap(name)], client=client)
                )

    ctx = testing.Context(Charm, meta={'name': APP})
    state = testing.State(leader=True, model=testing.Model(name=namespace))
    for _ in range(2):  # with a shared inventory, each hook prunes the other component's object
        state = ctx.run(ctx.on.config_changed(), state)
        assert state.unit_status == ops.ActiveStatus()
        for name in objects.values():
            assert exists(admin, ConfigMap, name, namespace), name

    inventories = {
        cm.metadata.name  # type: ignore[union-attr]
        for cm in admin.list(
            ConfigMap, namespace=namespace, labels={'reconcile-libs.io/inventory': 'true'}
        )
    }
    assert len(inventories) == 4, inventories
    assert {f'{APP}.a-b.inventory', f'{APP}.route.inventory'} <= inventories


def test_fields_of_another_manager_are_kept_and_our_fields_are_taken_back(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, _ = charm_client
    run_hook(client, [configmap('settings', mode='ours')], namespace)
    # Someone edits our object with their own field manager: changes our field, adds another.
    edit = configmap('settings', mode='theirs', note='added by hand')
    edit['metadata']['namespace'] = namespace
    admin.patch(
        ConfigMap,
        'settings',
        edit,
        namespace=namespace,
        patch_type=PatchType.APPLY,
        field_manager='kubectl-edit',
        force=True,
    )
    assert admin.get(ConfigMap, 'settings', namespace=namespace).data == {
        'mode': 'theirs',
        'note': 'added by hand',
    }

    run_hook(client, [configmap('settings', mode='ours')], namespace)

    settings = admin.get(ConfigMap, 'settings', namespace=namespace)
    assert settings.data == {'mode': 'ours', 'note': 'added by hand'}
    assert settings.metadata is not None
    owners = {
        f.manager: f.fieldsV1
        for f in settings.metadata.managedFields or []
        if f.operation == 'Apply'
    }
    assert owners[APP] == {'f:data': {'f:mode': {}}}
    assert owners['kubectl-edit'] == {'f:data': {'f:note': {}}}
    # And the other manager now has to force to change 'mode' again: the field is ours.
    with pytest.raises(ApiError) as conflict:
        admin.patch(
            ConfigMap,
            'settings',
            edit,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager='kubectl-edit',
        )
    assert conflict.value.status.code == 409


def test_readiness_follows_status_written_through_the_status_subresource(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, _ = charm_client
    group = group_for(namespace)
    objects = [deployment('web'), widget_crd(group), widget(group, 'w1')]
    state = run_hook(client, objects, namespace)
    assert state.unit_status == ops.WaitingStatus(
        f'[k8s] Deployment {namespace}/web: Updated: 0/1'
    )

    generation = admin.get(Deployment, 'web', namespace=namespace).metadata.generation  # type: ignore[union-attr]
    ready_status = {
        'observedGeneration': generation,
        'replicas': 1,
        'updatedReplicas': 1,
        'readyReplicas': 1,
        'availableReplicas': 1,
    }
    admin.patch(
        Deployment.Status,
        'web',
        {'status': ready_status},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    assert run_hook(client, objects, namespace).unit_status == ops.ActiveStatus()

    widgets = widget_class(group)
    not_ready = {
        'type': 'Ready',
        'status': 'False',
        'reason': 'Provisioning',
        'message': 'creating disks',
    }
    admin.patch(
        widgets.Status,
        'w1',
        {'status': {'conditions': [not_ready]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    state = run_hook(client, objects, namespace)
    assert state.unit_status == ops.WaitingStatus(f'[k8s] Widget {namespace}/w1: creating disks')

    deadline = {
        'type': 'Progressing',
        'status': 'False',
        'reason': 'ProgressDeadlineExceeded',
        'message': 'ReplicaSet "web-1" has timed out progressing.',
    }
    admin.patch(
        Deployment.Status,
        'web',
        {'status': {'conditions': [deadline]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    state = run_hook(client, objects, namespace)
    assert state.unit_status == ops.BlockedStatus(
        f'[k8s] Deployment {namespace}/web: ReplicaSet "web-1" has timed out progressing. '
        '(+1 more not ready)'
    )


def test_a_client_without_rights_gets_blocked_with_the_trust_remedy(
    envtest: EnvTest, admin: Client, namespace: str
):
    user = f'restricted-{namespace}'
    # The charm may manage ConfigMaps in its namespace, and nothing else.
    rbac = 'rbac.authorization.k8s.io'
    role = {
        'apiVersion': f'{rbac}/v1',
        'kind': 'Role',
        'metadata': {'name': 'configmaps-only'},
        'rules': [{'apiGroups': [''], 'resources': ['configmaps'], 'verbs': ['*']}],
    }
    binding = {
        'apiVersion': f'{rbac}/v1',
        'kind': 'RoleBinding',
        'metadata': {'name': 'configmaps-only'},
        'roleRef': {'apiGroup': rbac, 'kind': 'Role', 'name': 'configmaps-only'},
        'subjects': [{'apiGroup': rbac, 'kind': 'User', 'name': user}],
    }
    admin_apply(admin, Role, role, namespace)
    admin_apply(admin, RoleBinding, binding, namespace)
    client, _ = make_client(envtest, user=user, groups=(), namespace=namespace)

    state = run_hook(client, [configmap('a'), service('web')], namespace)

    assert state.unit_status.name == 'blocked'
    message = state.unit_status.message
    assert message.startswith(
        f'[k8s] forbidden to apply Service {namespace}/web: run `juju trust {APP} --scope=cluster`'
    )
    assert f'User "{user}" cannot patch resource "services"' in message
    assert exists(admin, ConfigMap, 'a', namespace)  # applied before the forbidden one
    client.close()


def test_remove_deletes_in_reverse_order_and_keeps_crds_by_default(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, transport = charm_client
    group = group_for(namespace)
    run_hook(client, mixed_set(group), namespace)

    transport.calls.clear()
    run_hook(client, mixed_set(group), namespace, remove=True, leader=False)
    assert transport.calls == []  # a non-leader leaves the app's shared objects alone

    run_hook(client, mixed_set(group), namespace, remove=True)

    deletes = [path.rsplit('/', 2)[-2:] for method, path in transport.calls if method == 'DELETE']
    assert deletes == [
        ['widgets', 'w1'],
        ['deployments', 'web'],
        ['services', 'web'],
        ['configmaps', 'settings'],
        ['configmaps', f'{APP}.k8s.inventory'],
    ]
    assert exists(admin, CustomResourceDefinition, f'widgets.{group}')
    for resource, name in ((Deployment, 'web'), (Service, 'web'), (ConfigMap, 'settings')):
        assert not exists(admin, resource, name, namespace)


def test_remove_deletes_crds_when_the_policy_says_so(
    admin: Client, namespace: str, charm_client: tuple[Client, RecordingTransport]
):
    client, transport = charm_client
    group = group_for(namespace)
    objects = [widget_crd(group), widget(group, 'w1')]
    run_hook(client, objects, namespace, crd_policy=CrdPolicy.DELETE)

    transport.calls.clear()
    run_hook(client, objects, namespace, remove=True, crd_policy=CrdPolicy.DELETE)

    deletes = [path.rsplit('/', 1)[-1] for method, path in transport.calls if method == 'DELETE']
    assert deletes == ['w1', f'widgets.{group}', f'{APP}.k8s.inventory']
    if exists(admin, CustomResourceDefinition, f'widgets.{group}'):
        crd = admin.get(CustomResourceDefinition, f'widgets.{group}')
        assert crd.metadata.deletionTimestamp is not None  # type: ignore[union-attr]
