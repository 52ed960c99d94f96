"""The cleanup domain against a fake cluster: what is planned, kept and deleted, in what order and by which route,
what is never touched, and how it behaves when the server refuses, answers 500 after doing the work, or is slow."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._cleanup import Cleaner, CleanupRequest
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Outcome, PlanFailed, execute
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_tenancy import (
    FakeTenancy,
    snapshot_of,
)

NS = 'ci'


def clean(api: FakeTenancy, check_mode: bool = False, **options: Any) -> Outcome:
    """What sf_namespace_cleanup does: plan, then execute (check mode: a read-only transport)."""
    options.setdefault('target', NS)
    api.read_only = check_mode
    try:
        return execute(Cleaner(api, None, CleanupRequest(**options), state_dir=None).plan(),
                       check_mode)
    finally:
        api.read_only = False


def failing(api: FakeTenancy, **options: Any) -> PlanFailed:
    with pytest.raises(PlanFailed) as caught:
        clean(api, **options)
    return caught.value


def as_caller(api: FakeTenancy, namespace: str) -> None:
    api.settings = dataclasses.replace(api.settings, namespace=namespace)
    api.forget()


def names(found: List[Dict[str, Any]]) -> List[str]:
    return sorted(str(item['name']) for item in found)


@pytest.fixture
def cluster() -> FakeTenancy:
    """Namespace ci: two instances on a network, an image a label points at, a scratch image, a snapshot. Beside
    it: a shared system image, and an image of a namespace that trusts ci (both visible to ci)."""
    api = FakeTenancy('system', trusted_by=('other',))
    api.add_namespace(NS)
    api.add_namespace('other')
    net = api.add_network('ci-net', NS)
    vm1 = api.add_instance('ci-vm1', NS, net)
    api.add_instance('ci-vm2', NS, net, team='web')
    base = api.upload_named('base', [b'base-1', b'base-2'], namespace=NS)
    api.upload_named('scratch', [b'scratch'], namespace=NS)
    api.update_label(NS, 'web', api.artifacts[base].versions[1])  # the older version of base
    snapshot_of(api, vm1, b'disk', NS)
    api.upload_named('shared-os', [b'os'], namespace='system', shared=True)
    api.upload_named('theirs', [b'theirs'], namespace='other')
    other_net = api.add_network('other-net', 'other')
    api.add_instance('other-vm', 'other', other_net)
    api.writes.clear()
    return api


def live_names(api: FakeTenancy, namespace: str) -> Dict[str, List[str]]:
    return {
        'instances': sorted(t.name for t in api.live(api.instances, namespace)),
        'networks': sorted(t.name for t in api.live(api.networks, namespace)),
        'artifacts': sorted(a.source_url.rsplit('/', 2)[-1] if 'instance' not in a.source_url else 'snapshot'
                            for a in api.artifacts.values() if a.namespace == namespace and a.state != 'deleted'),
    }


# The plan, check mode and the real run

def test_check_mode_returns_the_exact_plan_and_sends_no_write(cluster: FakeTenancy) -> None:
    outcome = clean(cluster, check_mode=True)
    assert cluster.writes == [] and cluster.log == []
    assert outcome.changed
    assert [(p['step'], p['status']) for p in outcome.plan] == [
        ('delete_instances', 'planned'), ('delete_networks', 'planned'), ('delete_artifacts', 'planned')]
    deleted = outcome.result['deleted']
    assert names(deleted['instances']) == ['ci-vm1', 'ci-vm2']
    assert names(deleted['networks']) == ['ci-net']
    assert sorted(a['type'] for a in deleted['artifacts']) == ['image', 'image', 'label', 'snapshot']
    assert outcome.result['kept'] == [] and outcome.after['instances'] == []
    assert 'ci-vm1' in outcome.before['instances']
    assert all(' at a time' in a for a in outcome.actions) and outcome.actions[0].startswith('would delete')
    assert live_names(cluster, NS)['instances'] == ['ci-vm1', 'ci-vm2']


def test_real_run_deletes_the_planned_objects_by_uuid_in_order_and_waits(cluster: FakeTenancy) -> None:
    outcome = clean(cluster)
    # Instances first; networks once no instance of ours is left; artifacts once no network of ours is left (the
    # counts are live instances and networks of every namespace when each delete was sent).
    assert [(call, live_vms, live_nets) for call, _uuid, live_vms, live_nets in cluster.log] == [
        ('delete_instance', 3, 2), ('delete_instance', 3, 2), ('delete_network', 1, 2)] + [
        ('delete_artifact', 1, 1)] * 4
    planned = {t['uuid'] for kind in outcome.result['deleted'].values() for t in kind}
    assert {uuid for _call, uuid, _vms, _nets in cluster.log} == planned
    assert live_names(cluster, NS) == {'instances': [], 'networks': [], 'artifacts': []}
    assert outcome.changed and outcome.result['undeleted'] == []
    assert names(outcome.result['deleted']['instances']) == ['ci-vm1', 'ci-vm2']
    assert [p['status'] for p in outcome.plan] == ['done', 'done', 'done']
    assert set(outcome.result['timings']) == {'instances', 'networks', 'artifacts'}
    # What another namespace owns, shared or trusting, is untouched.
    assert live_names(cluster, 'other') == {'instances': ['other-vm'], 'networks': ['other-net'],
                                            'artifacts': ['theirs']}
    assert live_names(cluster, 'system')['artifacts'] == ['shared-os']


def test_second_run_changes_nothing_and_sends_no_write(cluster: FakeTenancy) -> None:
    clean(cluster)
    cluster.writes.clear()
    again = clean(cluster)
    assert not again.changed and cluster.writes == []
    assert again.plan == [] and again.result['deleted'] == {'instances': [], 'networks': [], 'artifacts': []}


def test_counts_read_right_in_the_plan_and_after_the_run(cluster: FakeTenancy) -> None:
    # One network and two instances: "1 network", never "1 networks" (issue 19).
    planned = clean(cluster, check_mode=True, resources=['instances', 'networks'])
    assert [a.split(' (')[0] for a in planned.actions] == ['would delete 2 instances', 'would delete 1 network']
    done = clean(cluster, resources=['instances', 'networks'])
    assert [a.split(' in ')[0] for a in done.actions] == ['deleted 2 instances', 'deleted 1 network']


def test_pending_objects_are_polled_together(cluster: FakeTenancy) -> None:
    for name in range(20):
        cluster.add_instance(f'ci-more-{name}', NS)
    cluster.delete_ticks = 3
    before = cluster.listings
    clean(cluster, resources=['instances'])
    # One listing to plan, then one per polling round for all 22 instances, not one read per instance.
    assert cluster.listings - before <= 1 + cluster.delete_ticks + 1


def test_what_appears_after_the_plan_was_read_is_never_deleted(cluster: FakeTenancy) -> None:
    """A publish or a boot racing the cleanup: the plan is exactly what the run deletes (issue 18, point 3)."""
    request = CleanupRequest(target=NS)
    plan = Cleaner(cluster, None, request, state_dir=None).plan()
    late_image = cluster.upload_named('late', [b'late'], namespace=NS)
    late_vm = cluster.add_instance('late-vm', NS)
    late_net = cluster.add_network('late-net', NS)
    outcome = execute(plan, False)
    assert live_names(cluster, NS) == {'instances': ['late-vm'], 'networks': ['late-net'], 'artifacts': ['late']}
    deleted = {t['uuid'] for kind in outcome.result['deleted'].values() for t in kind}
    assert not deleted & {late_image, late_vm, late_net}
    assert 'late' not in [t['name'] for t in outcome.result['deleted']['artifacts']]


# Keep filters: each keeps what it names and says why

def test_keep_names_matches_instances_networks_and_artifacts(cluster: FakeTenancy) -> None:
    cluster.add_network('keep-net', NS)
    cluster.add_instance('keep-vm', NS)
    outcome = clean(cluster, keep_names=['keep-*', 'ba?e'])
    kept = {k['name']: k['reason'] for k in outcome.result['kept']}
    assert set(kept) == {'keep-vm', 'keep-net', 'base'}
    assert "'keep-*' (keep.names)" in kept['keep-vm'] and "'ba?e'" in kept['base']
    assert live_names(cluster, NS) == {'instances': ['keep-vm'], 'networks': ['keep-net'], 'artifacts': ['base']}
    assert sorted(set(cluster.calls())) == ['delete_artifact', 'delete_instance', 'delete_network']
    assert cluster.calls().count('delete_artifact') == 3


def test_keep_types_keeps_those_artifacts(cluster: FakeTenancy) -> None:
    outcome = clean(cluster, keep_types=['snapshot', 'label'])
    assert sorted(k['type'] for k in outcome.result['kept']) == ['label', 'snapshot']
    assert all('keep.types' in k['reason'] for k in outcome.result['kept'])
    assert live_names(cluster, NS)['artifacts'] == ['snapshot', 'web']
    assert cluster.calls() == ['delete_instance', 'delete_instance', 'delete_network', 'delete_artifact',
                               'delete_artifact']


def test_keep_labelled_keeps_labels_and_any_version_they_point_at(cluster: FakeTenancy) -> None:
    outcome = clean(cluster, keep_labelled=True)
    kept = {k['name']: k['reason'] for k in outcome.result['kept']}
    assert kept == {'web': 'it is a label (keep.labelled)',
                    'base': f'label sf://label/{NS}/web points at it (keep.labelled)'}
    assert live_names(cluster, NS)['artifacts'] == ['base', 'web']


def test_keep_metadata_needs_every_key(cluster: FakeTenancy) -> None:
    cluster.add_instance('ci-vm3', NS, team='web', tier='front')
    scratch = cluster.find(f'sf://upload/{NS}/scratch', NS)
    assert scratch is not None
    scratch.metadata.update(team='web', tier='front')
    outcome = clean(cluster, keep_metadata={'team': 'web', 'tier': 'front'})
    assert names(outcome.result['kept']) == ['ci-vm3', 'scratch']  # ci-vm2 has team but not tier
    assert all(k['reason'] == 'its metadata matches keep.metadata' for k in outcome.result['kept'])
    assert live_names(cluster, NS)['instances'] == ['ci-vm3']


def test_keep_metadata_reads_what_a_0_7_2_network_listing_leaves_out(cluster: FakeTenancy) -> None:
    cluster.network_listing_metadata = False  # as 0.7.2 lists networks: eight keys, no metadata
    kept = cluster.add_network('ci-keep', NS, keep='yes')
    cluster.add_network('ci-scratch-net', NS)
    planned = clean(cluster, check_mode=True, keep_metadata={'keep': 'yes'})
    assert [k['name'] for k in planned.result['kept'] if k['kind'] == 'network'] == ['ci-keep']
    assert names(planned.result['deleted']['networks']) == ['ci-net', 'ci-scratch-net']
    assert kept in cluster.metadata_reads and cluster.writes == []
    outcome = clean(cluster, keep_metadata={'keep': 'yes'})
    assert names(outcome.result['deleted']['networks']) == ['ci-net', 'ci-scratch-net']
    assert live_names(cluster, NS)['networks'] == ['ci-keep']


def test_an_object_whose_metadata_cannot_be_read_is_kept_and_says_why(cluster: FakeTenancy) -> None:
    cluster.network_listing_metadata = False
    unreadable = cluster.add_network('ci-unreadable', NS, keep='yes')
    cluster.metadata_faults[unreadable] = errors.SfServerError('GET /networks/x/metadata failed: boom', status=500)
    outcome = clean(cluster, keep_metadata={'keep': 'yes'})
    reason = next(k['reason'] for k in outcome.result['kept'] if k['name'] == 'ci-unreadable')
    assert reason.startswith('its metadata could not be read (GET /networks/x/metadata failed: boom')
    assert 'kept to be safe' in reason
    assert ('delete_network', unreadable) not in [(w[0], w[1]) for w in cluster.writes]
    assert 'ci-unreadable' in live_names(cluster, NS)['networks']
    assert 'delete_networks' not in cluster.calls()  # something of the kind is kept: never the bulk route


def test_metadata_is_read_only_when_the_listing_leaves_it_out_and_a_keep_filter_needs_it(
        cluster: FakeTenancy) -> None:
    clean(cluster, check_mode=True, keep_metadata={'keep': 'yes'})
    assert cluster.metadata_reads == []  # the listings carried it
    cluster.network_listing_metadata = False
    clean(cluster, check_mode=True)
    assert cluster.metadata_reads == []  # no keep.metadata: nothing to read


def test_an_object_gone_before_its_metadata_is_read_is_neither_kept_nor_deleted(cluster: FakeTenancy) -> None:
    cluster.network_listing_metadata = False
    gone = cluster.add_network('ci-gone', NS)
    cluster.metadata_faults[gone] = errors.SfNotFound('network not found', status=404)
    planned = clean(cluster, check_mode=True, keep_metadata={'keep': 'yes'})
    everything = [t['name'] for kind in planned.result['deleted'].values() for t in kind] + \
        [k['name'] for k in planned.result['kept']]
    assert 'ci-gone' not in everything


def test_older_than_deletes_only_what_is_known_to_be_older(cluster: FakeTenancy) -> None:
    scratch = cluster.find(f'sf://upload/{NS}/scratch', NS)
    assert scratch is not None
    cluster.blobs[scratch.versions[max(scratch.versions)]].fetched_at = time.time() - 60  # a minute old
    outcome = clean(cluster, older_than='30m', resources=['instances', 'artifacts'])
    kept = {k['name']: k['reason'] for k in outcome.result['kept']}
    assert kept['scratch'].startswith('younger than older_than')
    assert 'age is unknown' in kept['ci-vm1'] and 'age is unknown' in kept['ci-vm2']
    assert sorted(a['type'] for a in outcome.result['deleted']['artifacts']) == ['image', 'label', 'snapshot']
    assert 'scratch' in live_names(cluster, NS)['artifacts'] and 'base' not in live_names(cluster, NS)['artifacts']
    assert 'delete_instances' not in cluster.calls() and 'delete_instance' not in cluster.calls()


@pytest.mark.parametrize(('options', 'message'), [
    ({'resources': ['disks']}, 'resources must be a list drawn from'),
    ({'resources': []}, 'resources must be a list drawn from'),
    ({'keep_names': ['']}, 'keep.names must be non-empty'),
    ({'keep_types': ['iso']}, 'keep.types must be drawn from'),
    ({'older_than': 'soon'}, 'older_than must be a duration'),
    ({'concurrency': 0}, 'concurrency must be between 1 and 64'),
    ({'wait_timeout': 0}, 'wait_timeout must be a positive'),
    ({'target': 'a/b'}, 'target_namespace'),
    ({'target': ''}, 'target_namespace must be a non-empty string'),
])
def test_bad_input_is_refused_before_anything_is_read(cluster: FakeTenancy, options: Dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(errors.SfInvalidInput, match=message):
        clean(cluster, **options)
    assert cluster.writes == [] and cluster.listings == 0


# What is never deleted, and who may clean what

def test_resources_limit_the_run_to_those_kinds(cluster: FakeTenancy) -> None:
    outcome = clean(cluster, resources=['artifacts'])
    assert [p['step'] for p in outcome.plan] == ['delete_artifacts']
    assert cluster.calls() == ['delete_artifact'] * 4 and cluster.listings == 0
    assert live_names(cluster, NS)['instances'] == ['ci-vm1', 'ci-vm2']


def test_system_artifacts_never_go_by_the_bulk_route_and_shared_ones_stay(cluster: FakeTenancy) -> None:
    cluster.upload_named('sys-scratch', [b'sys'], namespace='system')
    with pytest.raises(errors.SfForbidden, match='allow_system'):
        clean(cluster, target='system', resources=['artifacts'])
    outcome = clean(cluster, target='system', allow_system=True, resources=['artifacts'])
    assert cluster.calls() == ['delete_artifact']  # one by one: the bulk route would take shared ones too
    assert [(k['name'], k['shared']) for k in outcome.result['kept']] == [('shared-os', True)]
    assert 'never deleted' in outcome.result['kept'][0]['reason']
    assert live_names(cluster, 'system')['artifacts'] == ['shared-os']
    assert live_names(cluster, NS)['artifacts'] == ['base', 'scratch', 'snapshot', 'web']


def test_system_artifacts_go_one_by_one_even_when_nothing_is_kept() -> None:
    api = FakeTenancy('system')
    api.upload_named('a', [b'a'], namespace='system')
    api.upload_named('b', [b'b'], namespace='system')
    outcome = clean(api, target='system', allow_system=True)
    assert api.calls() == ['delete_artifact', 'delete_artifact'] and outcome.result['kept'] == []


def test_cleaning_system_never_uses_a_bulk_route_that_would_take_every_namespace(cluster: FakeTenancy) -> None:
    net = cluster.add_network('sys-net', 'system')
    cluster.add_instance('sys-vm', 'system', net)
    outcome = clean(cluster, target='system', allow_system=True, resources=['instances', 'networks'])
    assert cluster.calls() == ['delete_instance', 'delete_network']  # one by one, by UUID
    assert names(outcome.result['deleted']['instances']) == ['sys-vm']
    assert live_names(cluster, NS)['instances'] == ['ci-vm1', 'ci-vm2']
    assert live_names(cluster, 'other')['networks'] == ['other-net']


def test_a_tenant_cleans_itself_but_never_what_it_can_see_of_others(cluster: FakeTenancy) -> None:
    as_caller(cluster, NS)
    outcome = clean(cluster)
    assert outcome.result['undeleted'] == [] and live_names(cluster, NS)['artifacts'] == []
    assert live_names(cluster, 'other')['artifacts'] == ['theirs']
    assert live_names(cluster, 'system')['artifacts'] == ['shared-os']
    ours = {uuid for kind in outcome.result['deleted'].values() for uuid in (t['uuid'] for t in kind)}
    assert {entry[1] for entry in cluster.log} == ours


def test_a_tenant_may_not_clean_another_namespace(cluster: FakeTenancy) -> None:
    as_caller(cluster, 'other')
    with pytest.raises(errors.SfForbidden, match="may only clean itself, not 'ci'"):
        clean(cluster)
    assert cluster.writes == [] and cluster.listings == 0


def test_a_missing_namespace_is_an_error_or_clean_with_missing_ok(cluster: FakeTenancy) -> None:
    with pytest.raises(errors.SfNotFound, match="no namespace 'gone'") as caught:
        clean(cluster, target='gone')
    assert 'missing_ok' in str(caught.value.hint)
    outcome = clean(cluster, target='gone', missing_ok=True)
    assert not outcome.changed and cluster.writes == [] and outcome.after == {'exists': False}


def test_delete_namespace_rules(cluster: FakeTenancy) -> None:
    with pytest.raises(errors.SfForbidden, match='cannot be deleted'):
        clean(cluster, target='system', allow_system=True, delete_namespace=True)
    as_caller(cluster, NS)
    with pytest.raises(errors.SfForbidden, match='only system may delete a namespace'):
        clean(cluster, delete_namespace=True)
    as_caller(cluster, 'system')
    kept = clean(cluster, delete_namespace=True, keep_names=['base'])
    assert kept.plan[-1]['step'] == 'keep' and 'still holds' in kept.plan[-1]['action']
    assert cluster.namespaces[NS] == 'created' and 'delete_namespace' not in cluster.calls()
    gone = clean(cluster, delete_namespace=True)
    assert cluster.calls()[-1] == 'delete_namespace' and cluster.namespaces[NS] == 'deleted'
    assert gone.after['exists'] is False and gone.plan[-1]['step'] == 'delete_namespace'
    assert not clean(cluster, delete_namespace=True, missing_ok=True).changed


# The server misbehaving

def test_a_network_refused_while_instances_exist_is_asked_again() -> None:
    api = FakeTenancy('system')
    api.add_namespace(NS)
    net = api.add_network('ci-net', NS)
    vm = api.add_instance('other-team-vm', NS, net)
    api.instances[vm].state = 'delete_wait'  # someone else's delete of it, which finishes after a while
    api.instances[vm].countdown = 7
    api.refuse_busy = True
    outcome = clean(api, resources=['networks'], wait_timeout=2)
    assert outcome.result['undeleted'] == [] and names(outcome.result['deleted']['networks']) == ['ci-net']
    assert api.networks[net].state == 'deleted'
    calls = api.calls()
    assert calls.count('delete_network') >= 2  # refused, then asked again


def test_a_network_refused_until_the_deadline_fails_saying_why() -> None:
    api = FakeTenancy('system')
    api.add_namespace(NS)
    net = api.add_network('ci-net', NS)
    vm = api.add_instance('stuck-vm', NS, net)
    api.instances[vm].state = 'delete_wait'  # being deleted by someone else, and never done
    api.instances[vm].countdown = 10 ** 6
    api.refuse_busy = True
    failure = failing(api, resources=['networks'], wait_timeout=0.05)
    assert isinstance(failure.error, errors.SfTimeout)
    [left] = failure.outcome.result['undeleted']
    assert left['name'] == 'ci-net' and left['reason'].startswith('still created after 0.05s')
    assert 'interfaces' in left['reason']


# A network an instance the cleanup leaves alone is on (0.7.2 would take the delete and destroy it under that instance)

@pytest.mark.parametrize('check_mode', [True, False])
def test_a_network_a_kept_instance_is_on_is_kept_and_says_why(cluster: FakeTenancy, check_mode: bool) -> None:
    outcome = clean(cluster, check_mode=check_mode, keep_names=['ci-vm2'])
    kept = {item['name']: item['reason'] for item in outcome.result['kept']}
    assert kept['ci-vm2'] == "its name matches 'ci-vm2' (keep.names)"
    assert kept['ci-net'].startswith('instance ci-vm2 is on it and this cleanup does not delete it')
    assert '0.7.2' in kept['ci-net']
    assert outcome.result['deleted']['networks'] == [] and names(outcome.result['deleted']['instances']) == ['ci-vm1']
    assert 'delete_network' not in cluster.calls()
    if not check_mode:
        assert live_names(cluster, NS)['networks'] == ['ci-net'] and live_names(cluster, NS)['instances'] == ['ci-vm2']
        assert outcome.after['networks'] == ['ci-net']


def test_an_instance_booted_on_the_network_after_the_plan_keeps_it(cluster: FakeTenancy) -> None:
    cleaner = Cleaner(cluster, None, CleanupRequest(target=NS, delete_namespace=True),
                      state_dir=None)
    plan = cleaner.plan()
    net = next(uuid for uuid, thing in cluster.networks.items() if thing.name == 'ci-net')
    cluster.add_instance('booted-meanwhile', NS, net)
    outcome = execute(plan, False)
    [(name, why)] = [(k['name'], k['reason']) for k in outcome.result['kept'] if k['kind'] == 'network']
    assert name == 'ci-net' and why.startswith('instance booted-meanwhile is on it')
    assert why.endswith('found just before deleting it')
    assert 'delete_network' not in cluster.calls() and cluster.networks[net].state == 'created'
    assert outcome.result['deleted']['networks'] == [] and outcome.result['undeleted'] == []
    assert 'delete_namespace' not in cluster.calls() and cluster.namespaces[NS] == 'created'
    [step] = [p for p in outcome.plan if p['step'] == 'delete_namespace']
    assert step['action'].startswith(f"kept namespace '{NS}': network ci-net stays, instance booted-meanwhile")


def test_a_network_whose_interfaces_cannot_be_read_is_kept(cluster: FakeTenancy) -> None:
    net = next(uuid for uuid, thing in cluster.networks.items() if thing.name == 'ci-net')
    cluster.interface_faults[net] = errors.SfServerError('HTTP 500', status=500)
    outcome = clean(cluster)
    [kept] = [k for k in outcome.result['kept'] if k['kind'] == 'network']
    assert kept['name'] == 'ci-net' and kept['reason'].startswith('its interfaces could not be read (HTTP 500)')
    assert 'delete_network' not in cluster.calls()
    assert names(outcome.result['deleted']['instances']) == ['ci-vm1', 'ci-vm2']


def test_a_network_only_an_instance_already_going_is_on_goes(cluster: FakeTenancy) -> None:
    net = next(uuid for uuid, thing in cluster.networks.items() if thing.name == 'ci-net')
    going = cluster.add_instance('going-anyway', NS, net)
    cluster.instances[going].state, cluster.instances[going].countdown = 'delete_wait', 1
    outcome = clean(cluster, keep_names=['going-*'])
    assert names(outcome.result['deleted']['networks']) == ['ci-net']
    assert cluster.networks[net].state == 'deleted'


def test_single_deletes_answered_500_after_they_worked_are_a_success(cluster: FakeTenancy) -> None:
    cluster.add_instance('keep-vm', NS)
    cluster.add_network('keep-net', NS)
    cluster.faults = {'delete_instance': ['after', 'after'], 'delete_network': ['after'],
                      'delete_artifact': ['after'] * 3}
    outcome = clean(cluster, keep_names=['keep-*', 'base'], wait_timeout=2)
    assert outcome.result['undeleted'] == []
    assert names(outcome.result['deleted']['instances']) == ['ci-vm1', 'ci-vm2']
    assert names(outcome.result['deleted']['networks']) == ['ci-net']
    assert len(outcome.result['deleted']['artifacts']) == 3
    assert live_names(cluster, NS) == {'instances': ['keep-vm'], 'networks': ['keep-net'], 'artifacts': ['base']}


def test_a_delete_answered_500_that_did_not_happen_is_asked_again_or_reported(cluster: FakeTenancy) -> None:
    cluster.add_instance('keep-vm', NS)
    cluster.faults = {'delete_instance': ['before'], 'delete_artifact': ['before']}
    failure = failing(cluster, keep_names=['keep-*', 'base'], wait_timeout=2)
    # The instance was asked again by the wait and went; the artifact is still there, and the task says so.
    assert names(failure.outcome.result['deleted']['instances']) == ['ci-vm1', 'ci-vm2']
    [left] = failure.outcome.result['undeleted']
    assert left['kind'] == 'artifact' and 'HTTP 500' in left['reason']
    assert '1 artifact could not be deleted' in str(failure)
    assert [p['status'] for p in failure.outcome.plan][:3] == ['done', 'done', 'failed']


def test_wait_timeout_exceeded_is_a_clean_timeout_saying_what_is_left(cluster: FakeTenancy) -> None:
    cluster.delete_ticks = 10 ** 6  # instances never finish deleting
    failure = failing(cluster, wait_timeout=0.05)
    assert isinstance(failure.error, errors.SfTimeout) and failure.kind == 'timeout'
    assert names(failure.outcome.result['undeleted']) == ['ci-vm1', 'ci-vm2']
    assert all(f['reason'] == 'still created after 0.05s' for f in failure.outcome.result['undeleted'])
    assert str(failure).startswith('2 instances could not be deleted: ci-vm')
    assert [p['status'] for p in failure.outcome.plan] == ['failed', 'not run', 'not run']
    assert cluster.calls() == ['delete_instance', 'delete_instance']  # nothing after the failed step was sent


def test_wait_false_asks_and_does_not_wait() -> None:
    api = FakeTenancy('system')
    api.add_namespace(NS)
    api.add_instance('ci-vm', NS)
    api.delete_ticks = 10 ** 6
    outcome = clean(api, wait=False)
    assert outcome.result['undeleted'] == [] and 'not waiting' in outcome.actions[0]
    assert api.listings == 2  # the plan's two listings, no polling


def test_single_deletes_run_concurrency_at_a_time() -> None:
    api = FakeTenancy('system')
    api.add_namespace(NS)
    for name in range(6):
        api.upload_named(f'scratch-{name}', [bytes([name])], namespace=NS)
    api.upload_named('keep', [b'k'], namespace=NS)
    api.delete_pause = 0.05
    clean(api, keep_names=['keep'], concurrency=2)
    assert api.calls().count('delete_artifact') == 6 and api.busy_most == 2


# What goes while the instances go (issue 21): only what waits for none of the instances still going

@pytest.fixture
def linked() -> FakeTenancy:
    """Namespace ci, whose instance views say what they are on and boot from: a fast instance on net-fast, a slow one
    on net-slow booting from image boot; a free image, a labelled image and its label."""
    api = FakeTenancy('system')
    api.add_namespace(NS)
    api.instance_views_link = True
    fast_net, slow_net = api.add_network('net-fast', NS), api.add_network('net-slow', NS)
    boot = api.upload_named('boot', [b'boot'], namespace=NS)
    api.add_instance('vm-fast', NS, fast_net)
    slow = api.add_instance('vm-slow', NS, slow_net, boots=api.artifacts[boot].versions[1])
    api.instances[slow].countdown = 50  # takes longer to delete than the other
    tick = api.pause

    # Each pause sleeps a little, as a real poll does, so what was sent in the background is sent in time.
    def pause(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.002)
        return tick(*args, **kwargs)

    api.pause = pause
    api.upload_named('free', [b'free'], namespace=NS)
    labelled = api.upload_named('labelled', [b'labelled'], namespace=NS)
    api.update_label(NS, 'web', api.artifacts[labelled].versions[1])
    api.writes.clear()
    return api


def sent_while(api: FakeTenancy) -> Dict[str, int]:
    """Each deleted object's name -> live instances of ci when its delete was sent."""
    found = {uuid: thing.name for uuid, thing in {**api.instances, **api.networks}.items()}
    found.update({uuid: row.source_url.rsplit('/', 1)[-1] for uuid, row in api.artifacts.items()})
    return {found[uuid]: vms for _call, uuid, vms, _nets in api.log}


def test_a_network_goes_once_its_instances_are_gone_and_free_artifacts_during_the_wait(linked: FakeTenancy) -> None:
    outcome = clean(linked)
    sent = sent_while(linked)
    assert sent['net-fast'] == 1 and sent['free'] == 2  # while vm-slow (and for free, both) still ran
    # What an instance boots from, a label and what a label points at wait for the instances and networks.
    assert sent['boot'] == sent['labelled'] == sent['web'] == sent['net-slow'] == 0
    assert live_names(linked, NS) == {'instances': [], 'networks': [], 'artifacts': []}
    assert [p['status'] for p in outcome.plan] == ['done', 'done', 'done'] and outcome.result['undeleted'] == []
    assert names(outcome.result['deleted']['networks']) == ['net-fast', 'net-slow']
    assert names(outcome.result['deleted']['artifacts']) == ['boot', 'free', 'labelled', 'web']
    planned = clean(linked, check_mode=True)  # nothing left: the same plan as before, now empty
    assert not planned.changed


def test_views_that_do_not_say_keep_the_old_order(linked: FakeTenancy) -> None:
    linked.instance_views_link = False
    clean(linked)
    assert set(sent_while(linked).values()) == {2, 0} and all(
        vms == 0 for name, vms in sent_while(linked).items() if not name.startswith('vm-'))


def test_an_instance_wait_that_runs_out_reports_what_went_early(linked: FakeTenancy) -> None:
    linked.instances[next(u for u, t in linked.instances.items() if t.name == 'vm-slow')].countdown = 10 ** 6
    failure = failing(linked, wait_timeout=0.3)
    assert isinstance(failure.error, errors.SfTimeout)
    assert [p['status'] for p in failure.outcome.plan] == ['failed', 'not run', 'not run']
    assert str(failure.error).endswith(' (meanwhile deleted 1 network and 1 artifact that waited for none of them)')
    deleted = failure.outcome.result['deleted']
    assert names(deleted['artifacts']) == ['free'] and names(deleted['networks']) == ['net-fast']
    assert names(failure.outcome.result['undeleted']) == ['vm-slow']
    assert 'net-slow' not in sent_while(linked) and 'boot' not in sent_while(linked)


def test_early_deletes_share_the_concurrency(linked: FakeTenancy) -> None:
    for name in range(6):
        linked.upload_named(f'scratch-{name}', [bytes([name])], namespace=NS)
    linked.delete_pause = 0.05
    clean(linked, concurrency=2)
    assert linked.busy_most <= 2
