"""A network that an instance the cleanup leaves alone is on stays: an instance kept by a filter, and one booted on
the network while the cleanup deletes the others. Shaken Fist 0.7.2 (and the emulator, both profiles) takes a network
delete while instances are on it and destroys the network once they are gone, so deleting it would take it from
under them. Checked with the API, not with the code under test."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict

from tests.integration.cleanup_play import cleanup_task, emulator_only
from tests.integration.forks import saved_results, start_forks
from tools.sfsupport.backend import Backend

pytestmark = emulator_only

CLEANUP = cleanup_task(['keep-*'])


class Tenant:
    def __init__(self, backend: Backend, prefix: str) -> None:
        self.backend = backend
        self.namespace, self.key = backend.new_namespace(prefix)
        upload = self.call('POST', '/upload')
        backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(64 * 1024), namespace=self.namespace, key=self.key)
        self.call('POST', '/artifacts/upload/keep-base', {'upload_uuid': upload['uuid']})
        self.network = self.call('POST', '/networks', {'netblock': '10.30.0.0/24', 'name': 'net'})['uuid']
        self.wait(f'/networks/{self.network}', 'created')

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.backend.call(method, path, body, namespace=self.namespace, key=self.key)

    def wait(self, path: str, state: str) -> None:
        deadline = time.monotonic() + 120
        while (seen := self.call('GET', path))['state'] != state:
            assert time.monotonic() < deadline, f'{path} never reached {state}: {seen}'
            time.sleep(0.1)

    def boot(self, name: str) -> str:
        made = self.call('POST', '/instances', {
            'name': name, 'cpus': 1, 'memory': 1024, 'configdrive': 'openstack-disk',
            'network': [{'network_uuid': self.network}],
            'disk': [{'size': 8, 'base': f'sf://upload/{self.namespace}/keep-base', 'type': 'disk'}]})
        self.wait(f'/instances/{made["uuid"]}', 'created')
        return str(made['uuid'])

    def state(self, kind: str, uuid: str) -> str:
        return str(self.call('GET', f'/{kind}/{uuid}')['state'])


def clean(backend: Backend, tenant: Tenant, tmp_path: Path) -> Any:
    return start_forks(tmp_path, {'sf_api_url': backend.url, 'sf_namespace': tenant.namespace, 'sf_key': tenant.key},
                       CLEANUP, {'host0': {'system_key': backend.system_key, 'target': tenant.namespace}}, forks=1)


def outcome_of(process: Any, tmp_path: Path) -> Dict[str, Any]:
    output = process.communicate(timeout=300)[0]
    outcome: Dict[str, Any] = saved_results(tmp_path, {'host0': {}}, output)['host0']
    assert not outcome.get('failed'), outcome.get('msg')
    return outcome


def kept_network(outcome: Dict[str, Any]) -> str:
    [reason] = [k['reason'] for k in outcome['kept'] if k['kind'] == 'network']
    return str(reason)


def test_a_network_a_kept_instance_is_on_stays(backend: Backend, tmp_path: Path) -> None:
    tenant = Tenant(backend, 'netkeep')
    kept, doomed = tenant.boot('keep-db'), tenant.boot('scratch')
    outcome = outcome_of(clean(backend, tenant, tmp_path), tmp_path)
    assert kept_network(outcome).startswith('instance keep-db is on it and this cleanup does not delete it')
    assert [i['uuid'] for i in outcome['deleted']['instances']] == [doomed] and outcome['deleted']['networks'] == []
    assert tenant.state('networks', tenant.network) == 'created' and tenant.state('instances', kept) == 'created'
    assert tenant.state('instances', doomed) == 'deleted'
    assert not [r for r in backend.emulator.request_log() if r['method'] == 'DELETE' and tenant.network in r['path']]


def test_an_instance_booted_on_the_network_during_the_cleanup_keeps_it(backend: Backend, tmp_path: Path) -> None:
    tenant = Tenant(backend, 'netrace')
    doomed = tenant.boot('scratch')
    # The cleanup's instance delete is held by the server: the plan has been read by then (the log shows a request
    # once answered, so the plan's interface read is the signal), and the new instance lands well before the
    # network's turn.
    backend.emulator.add_fault(method='DELETE', path=r'^/instances/', count=1, kind='latency', seconds=5)
    cleanup = clean(backend, tenant, tmp_path)
    deadline = time.monotonic() + 60
    planned = f'/networks/{tenant.network}/interfaces'
    while not any(r['method'] == 'GET' and r['path'] == planned for r in backend.emulator.request_log()):
        assert cleanup.poll() is None and time.monotonic() < deadline, 'the cleanup never read the network'
        time.sleep(0.05)
    late = tenant.boot('late')
    outcome = outcome_of(cleanup, tmp_path)
    reason = kept_network(outcome)
    assert reason.startswith('instance late is on it') and reason.endswith('found just before deleting it')
    assert [i['uuid'] for i in outcome['deleted']['instances']] == [doomed] and outcome['undeleted'] == []
    assert tenant.state('networks', tenant.network) == 'created' and tenant.state('instances', late) == 'created'
