"""Many forks cleaning one namespace at once, as an AWX job over many hosts does when every host runs the cleanup
task (8 and 16 forks). Runs on one controller take turns per namespace: exactly one run deletes and reports each
object, the others find it clean (no change, nothing reported as deleted), and nothing fails. Checked with the API
and the emulator's request log, not with the code under test."""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cleanup_play import cleanup_task, emulator_only
from tests.integration.forks import run_forks
from tools.sfsupport.backend import Backend

pytestmark = emulator_only

CLEANUP = cleanup_task()


def seed(backend: Backend, namespace: str, key: str) -> dict[str, set[str]]:
    """Two networks with two instances each, and four images: what a cleanup of the namespace must delete."""
    def call(method: str, path: str, body: Any = None) -> Any:
        return backend.call(method, path, body, namespace=namespace, key=key)

    made: dict[str, set[str]] = {'instances': set(), 'networks': set(), 'artifacts': set()}
    for number in range(4):
        upload = call('POST', '/upload')
        backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(32 * 1024), namespace=namespace, key=key)
        image = call('POST', f'/artifacts/upload/image-{number}', {'upload_uuid': upload['uuid']})
        made['artifacts'].add(image['uuid'])
    for number in range(2):
        network = call('POST', '/networks', {'netblock': f'10.4{number}.0.0/24', 'name': f'net-{number}'})['uuid']
        made['networks'].add(network)
        deadline = time.monotonic() + 120
        while call('GET', f'/networks/{network}')['state'] != 'created':
            assert time.monotonic() < deadline, 'the network never came up'
            time.sleep(0.1)
        for vm in range(2):
            made['instances'].add(call('POST', '/instances', {
                'name': f'vm-{number}-{vm}', 'cpus': 1, 'memory': 1024, 'configdrive': 'openstack-disk',
                'network': [{'network_uuid': network}],
                'disk': [{'size': 8, 'base': f'sf://upload/{namespace}/image-0', 'type': 'disk'}]})['uuid'])
    for uuid in made['instances']:
        deadline = time.monotonic() + 120
        while call('GET', f'/instances/{uuid}')['state'] != 'created':
            assert time.monotonic() < deadline, f'instance {uuid} never booted'
            time.sleep(0.1)
    return made


@pytest.mark.parametrize('forks', [8, 16])
def test_forks_cleaning_one_namespace_take_turns_and_each_object_is_reported_once(
        backend: Backend, tmp_path: Path, forks: int) -> None:
    namespace, key = backend.new_namespace('cleanforks')
    made = seed(backend, namespace, key)
    mark = backend.request_mark()
    hosts = {f'fork{n}': {'system_key': backend.system_key, 'target': namespace} for n in range(forks)}
    results = run_forks(tmp_path, {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key}, CLEANUP,
                        hosts, forks=forks, env={'HOME': str(tmp_path / 'home')})
    assert not [r.get('msg') for r in results.values() if r.get('failed')]
    cleaned = [r for r in results.values() if r['changed']]
    assert len(cleaned) == 1, [(h, r['changed'], r['deleted']) for h, r in results.items()]
    for kind, uuids in made.items():
        assert {t['uuid'] for t in cleaned[0]['deleted'][kind]} == uuids, kind
    for result in results.values():
        if result is not cleaned[0]:
            assert result['deleted'] == {'instances': [], 'networks': [], 'artifacts': []} and result['undeleted'] == []
    log = backend.emulator.request_log(since=mark)
    deletes = collections.Counter(r['path'] for r in log if r['method'] == 'DELETE')
    assert all(count == 1 for count in deletes.values()), deletes  # every object asked once, by one run
    assert len(deletes) == sum(len(uuids) for uuids in made.values())
    for kind in ('instances', 'networks', 'artifacts'):
        left = backend.call('GET', f'/{kind}', namespace=namespace, key=key) or []
        assert [t['uuid'] for t in left if t['state'] != 'deleted'] == [], kind
