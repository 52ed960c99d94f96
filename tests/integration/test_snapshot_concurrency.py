"""Many forks snapshotting one instance at once, as AWX runs a job over many hosts that all name the same VM (8 and
16 forks). Runs on one controller take turns per instance: a name means one set, min_age one new set, and force
one set per run, with max_versions raised before each is added so the server never trims a set; every run returns
a set whose versions exist. Checked with the API and the emulator's request log, not with the code under test."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.forks import run_forks, start_forks
from tools.sfsupport.backend import Backend

pytestmark = pytest.mark.skipif(os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real',
                                reason='the real tier has no hypervisor: instances run on the emulator only')

SNAPSHOT = '''
    - name: Snapshot the one instance
      shakenfist.storage.sf_snapshot:
        instance: "{{ instance }}"
        OPTIONS
      register: outcome
      ignore_errors: true
'''


def booted_instance(backend: Backend, namespace: str, key: str) -> str:
    """A created instance of `namespace` whose disk comes from a small uploaded image."""
    upload = backend.call('POST', '/upload', namespace=namespace, key=key)
    backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(256 * 1024), namespace=namespace, key=key)
    backend.call('POST', '/artifacts/upload/base', {'upload_uuid': upload['uuid']}, namespace=namespace, key=key)
    made = backend.call('POST', '/instances', {
        'name': 'vm1', 'cpus': 1, 'memory': 1024, 'network': [], 'configdrive': 'openstack-disk',
        'disk': [{'size': 8, 'base': f'sf://upload/{namespace}/base', 'type': 'disk'}]}, namespace=namespace, key=key)
    deadline = time.monotonic() + 120
    while backend.call('GET', f'/instances/{made["uuid"]}', namespace=namespace, key=key)['state'] != 'created':
        assert time.monotonic() < deadline, 'the instance never booted'
        time.sleep(0.2)
    return str(made['uuid'])


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, found through /proc (a fork may leave the process group)."""
    parents: dict[int, list[int]] = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    doomed, stack = [], [pid]
    while stack:
        current = stack.pop()
        doomed.append(current)
        stack.extend(parents.get(current, []))
    for victim in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def run(backend: Backend, tmp_path: Path, forks: int, options: str) -> tuple[list[dict[str, Any]], list[str], str]:
    namespace, key = backend.new_namespace('snapforks')
    uuid = booted_instance(backend, namespace, key)
    mark = backend.request_mark()
    results = run_forks(tmp_path, {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key},
                        SNAPSHOT.replace('OPTIONS', options),
                        {f'host{n}': {'instance': 'vm1'} for n in range(forks)}, forks=forks)
    snapshots = [r['path'] for r in backend.write_requests_since(mark) if r['path'].endswith('/snapshot')]
    return list(results.values()), snapshots, uuid


def versions(backend: Backend, uuid: str) -> dict[str, int]:
    """blob UUID -> version index of the instance's vda snapshot artifact, as the server has them now."""
    artifact = [a for a in backend.call('GET', '/artifacts') if a['source_url'] == f'sf://instance/{uuid}/vda']
    assert len(artifact) <= 1, artifact
    if not artifact:
        return {}  # no snapshot yet
    return {v['uuid']: v['index'] for v in backend.call('GET', f'/artifacts/{artifact[0]["uuid"]}/versions')}


@pytest.mark.parametrize('forks', [8, 16])
def test_a_named_set_is_taken_once_by_many_forks(backend: Backend, tmp_path: Path, forks: int) -> None:
    outcomes, snapshots, uuid = run(backend, tmp_path, forks, 'name: pre-upgrade')
    assert all(not o.get('failed') for o in outcomes), [o.get('msg') for o in outcomes if o.get('failed')]
    assert len(snapshots) == 1, snapshots
    assert sum(bool(o['changed']) for o in outcomes) == 1
    assert len({o['snapshot_set']['id'] for o in outcomes}) == 1
    held = versions(backend, uuid)
    assert all(o['snapshot_set']['devices'][0]['blob_uuid'] in held for o in outcomes)


@pytest.mark.parametrize('forks', [8, 16])
def test_a_named_set_is_deleted_once_by_many_forks(backend: Backend, tmp_path: Path, forks: int) -> None:
    namespace, key = backend.new_namespace('snapforks')
    uuid = booted_instance(backend, namespace, key)
    connection = {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key}
    taken = run_forks(tmp_path / 'take', connection, SNAPSHOT.replace('OPTIONS', 'name: pre-upgrade'),
                      {'host': {'instance': 'vm1'}})
    assert taken['host']['changed'] and len(versions(backend, uuid)) == 1, taken
    mark = backend.request_mark()
    results = run_forks(tmp_path, connection, SNAPSHOT.replace('OPTIONS', 'name: pre-upgrade\n        state: absent'),
                        {f'host{n}': {'instance': 'vm1'} for n in range(forks)}, forks=forks)
    outcomes = list(results.values())
    assert all(not o.get('failed') for o in outcomes), [o.get('msg') for o in outcomes if o.get('failed')]
    # Runs on one host take turns per instance: the first deletes the set, the others find no such set.
    assert sum(bool(o['changed']) for o in outcomes) == 1, [o['actions'] for o in outcomes]
    deletes = [r['path'] for r in backend.write_requests_since(mark) if r['method'] == 'DELETE']
    # One run sent them: the set's one version, then the set's record in the artifact's metadata, each once.
    assert [path.split('/')[3] for path in deletes] == ['versions', 'metadata'], deletes
    assert versions(backend, uuid) == {}


def test_min_age_takes_one_new_set_among_eight_forks(backend: Backend, tmp_path: Path) -> None:
    outcomes, snapshots, _uuid = run(backend, tmp_path, 8, 'min_age: 1h')
    assert all(not o.get('failed') for o in outcomes), [o.get('msg') for o in outcomes if o.get('failed')]
    assert len(snapshots) == 1 and sum(bool(o['changed']) for o in outcomes) == 1


def test_force_takes_one_set_per_fork_and_the_server_trims_none(backend: Backend, tmp_path: Path) -> None:
    outcomes, snapshots, uuid = run(backend, tmp_path, 8, 'force: true')
    assert all(not o.get('failed') for o in outcomes), [o.get('msg') for o in outcomes if o.get('failed')]
    assert len(snapshots) == 8 and all(o['changed'] for o in outcomes)
    held = versions(backend, uuid)
    returned = [o['snapshot_set']['devices'][0]['blob_uuid'] for o in outcomes]
    assert len(set(returned)) == 8 and all(blob in held for blob in returned), (returned, held)


# A lost answer: the server acted, the client never heard. The run finds the snapshot and records it as the set; it
# never takes a second one (issue 18, point 2).
@pytest.mark.parametrize('fault', [
    {'kind': 'fail_after', 'status': 500},  # the server took the snapshot, then answered 500
    {'kind': 'latency', 'seconds': 8},  # the answer comes after the client's timeout (4 s)
], ids=['500-after-acting', 'answer-past-the-timeout'])
def test_a_lost_snapshot_answer_is_found_not_asked_again(backend: Backend, tmp_path: Path,
                                                         fault: dict[str, Any]) -> None:
    namespace, key = backend.new_namespace('snaplost')
    uuid = booted_instance(backend, namespace, key)
    backend.emulator.add_fault(method='POST', path=r'^/instances/[^/]+/snapshot$', count=1, **fault)
    mark = backend.request_mark()
    options = 'name: pre-upgrade\n        timeout: 4'
    outcome = run_forks(tmp_path, {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key},
                        SNAPSHOT.replace('OPTIONS', options), {'host0': {'instance': 'vm1'}}, forks=1)['host0']
    assert not outcome.get('failed'), outcome.get('msg')
    assert outcome['changed'] and outcome['snapshot_set']['name'] == 'pre-upgrade'
    assert 'the answer was lost' in outcome['plan'][0]['action']
    requests = [r for r in backend.emulator.request_log(since=mark) if r['path'].endswith('/snapshot')
                and r['method'] == 'POST']
    assert len(requests) == 1, requests  # asked once
    assert outcome['snapshot_set']['devices'][0]['blob_uuid'] in versions(backend, uuid)
    again = run_forks(tmp_path / 'again', {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key},
                      SNAPSHOT.replace('OPTIONS', 'name: pre-upgrade'), {'host0': {'instance': 'vm1'}}, forks=1)
    assert not again['host0']['changed'] and again['host0']['snapshot_set']['id'] == outcome['snapshot_set']['id']
    assert len(versions(backend, uuid)) == 1


def test_a_run_killed_before_its_answer_is_finished_by_the_next(backend: Backend, tmp_path: Path) -> None:
    """The client killed while the server takes its time: the next run on this host records the snapshot the
    killed one asked for, and takes none (issue 18, point 2)."""
    namespace, key = backend.new_namespace('snapkill')
    uuid = booted_instance(backend, namespace, key)
    home = tmp_path / 'home'  # the state directory (~/.cache/shakenfist.storage) of this "host"
    connection = {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key}
    backend.emulator.add_fault(method='POST', path=r'^/instances/[^/]+/snapshot$', count=1, kind='latency',
                               seconds=6)
    killed = start_forks(tmp_path / 'killed', connection, SNAPSHOT.replace('OPTIONS', 'name: nightly'),
                         {'host0': {'instance': 'vm1'}}, forks=1, env={'HOME': str(home)})
    intents = home / '.cache' / 'shakenfist.storage' / 'snapshot-intents'
    deadline = time.monotonic() + 120
    while not (intents.is_dir() and any(intents.glob('*.json'))):
        assert killed.poll() is None and time.monotonic() < deadline, 'the run never asked for its snapshot'
        time.sleep(0.05)
    time.sleep(1)  # the request is on the wire, the server sits on it
    kill_tree(killed.pid)  # the playbook and the module it runs (which Ansible starts in a session of its own)
    killed.communicate()
    deadline = time.monotonic() + 60
    while not versions(backend, uuid):  # the server goes on and takes it
        assert time.monotonic() < deadline, 'the server never took the snapshot'
        time.sleep(0.2)
    mark = backend.request_mark()
    again = run_forks(tmp_path / 'again', connection, SNAPSHOT.replace('OPTIONS', 'name: nightly'),
                      {'host0': {'instance': 'vm1'}}, forks=1, env={'HOME': str(home)})['host0']
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] and again['snapshot_set']['name'] == 'nightly', again
    assert [step['step'] for step in again['plan'] if step['step'] != 'note'] == ['record_set']
    posts = [r for r in backend.emulator.request_log(since=mark)
             if r['method'] == 'POST' and r['path'].endswith('/snapshot')]
    assert posts == [] and list(versions(backend, uuid)) == [again['snapshot_set']['devices'][0]['blob_uuid']]
    assert not any(intents.glob('*.json'))  # finished: nothing left for a later run
