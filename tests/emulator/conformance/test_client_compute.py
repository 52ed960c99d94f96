"""The official client (shakenfist-client 0.8.3) drives the compute routes: it must not tell the emulator apart.

Each test runs `sf-client` (CLI) or the client's Python API from `.venv-sfclient`, with the client's own wait
loops: instance create and delete polls, the snapshot wait loop, network delete op polling, `namespace clean`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from compute_helpers import create_network, disk, instance_body, wait_state
from sfe_helpers import Api, make_namespace, unique

from sf_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parents[3]
CLIENT_BIN = ROOT / '.venv-sfclient' / 'bin'

pytestmark = pytest.mark.skipif(
    not (CLIENT_BIN / 'sf-client').exists(),
    reason='needs .venv-sfclient with shakenfist-client==0.8.3 (make sfclient-venv)',
)


def _env(api: Api, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
    env.update({'HOME': str(home), 'SHAKENFIST_API_URL': api.url, 'SHAKENFIST_NAMESPACE': api.namespace,
                'SHAKENFIST_KEY': api.key, 'SHAKENFIST_ASYNC': 'pause'})
    return env


def sf_client(api: Api, tmp_path: Path, *args: str, timeout: float = 120) -> Any:
    """Run `sf-client --json ...` as `api`'s namespace; return the parsed JSON it printed (None if nothing)."""
    done = subprocess.run([str(CLIENT_BIN / 'sf-client'), '--json', *args], env=_env(api, tmp_path),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f'sf-client {args}: {done.returncode}\n{done.stdout}\n{done.stderr}'
    out = done.stdout.strip()
    return json.loads(out) if out else None


def client_python(api: Api, tmp_path: Path, code: str, timeout: float = 120) -> Any:
    """Run `code` with `client` (an apiclient.Client) in the client's venv; it must print one JSON value."""
    script = 'import json\nfrom shakenfist_client import apiclient\n'
    script += 'client = apiclient.Client(async_strategy="pause")\n' + textwrap.dedent(code)
    done = subprocess.run([str(CLIENT_BIN / 'python'), '-c', script], env=_env(api, tmp_path),
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f'{code}\n{done.stdout}\n{done.stderr}'
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cli_instance_create_show_and_delete_with_its_poll(admin: Api, tmp_path: Path) -> None:
    admin.upload_bytes('cli-base', b'cli base bytes')
    created = sf_client(admin, tmp_path, 'instance', 'create', 'cli-vm', '1', '1024',
                        '-d', '8@sf://upload/system/cli-base', '-d', '2@none')
    assert created['state'] == 'created' and created['name'] == 'cli-vm'  # the client waited for it
    assert created['network_interfaces'] == [] and created['metadata'] == {}
    shown = sf_client(admin, tmp_path, 'instance', 'show', 'cli-vm')
    assert shown['uuid'] == created['uuid'] and shown['disk_spec'][0]['base'] == 'sf://upload/system/cli-base'
    listed = sf_client(admin, tmp_path, 'instance', 'list')
    assert created['uuid'] in json.dumps(listed)
    gone = sf_client(admin, tmp_path, 'instance', 'delete', created['uuid'])
    assert gone['state'] == 'deleted' and gone['uuid'] == created['uuid']


def test_cli_instance_snapshot_waits_for_its_blobs(compute: EmulatorProcess, admin: Api, tmp_path: Path) -> None:
    compute.set_config(snapshot_delay=1.5)  # long enough that the client's wait loop has to go round
    data = secrets.token_bytes(50_000)
    admin.upload_bytes('snap-cli', data)
    instance = admin.ok('POST', '/instances', instance_body('snapme', [disk('sf://upload/system/snap-cli')]))
    wait_state(admin, f'/instances/{instance["uuid"]}', 'created')
    label = unique('golden')
    out = sf_client(admin, tmp_path, 'instance', 'snapshot', 'snapme', '--label_name', label)
    blob_uuid = out['vda']['blob_uuid']
    listing = admin.ok('GET', f'/instances/{instance["uuid"]}/snapshot')
    assert [(s['blob_uuid'], s['state']) for s in listing] == [(blob_uuid, 'created')]
    assert out['label']['blob_uuid'] == blob_uuid and out['label']['artifact_type'] == 'label'
    assert admin.call('GET', f'/blobs/{blob_uuid}/data').content == data
    started = time.monotonic()
    every = sf_client(admin, tmp_path, 'instance', 'snapshot', instance['uuid'], '--all')
    assert sorted(every) == ['vda']
    assert time.monotonic() - started < 30  # the wait loop ended because the blob appeared, not at its deadline
    states = {s['blob_uuid']: s['state'] for s in admin.ok('GET', f'/instances/{instance["uuid"]}/snapshot')}
    assert states[every['vda']['blob_uuid']] == 'created'
    # the library call and its wait loop, as a playbook would use it
    result = client_python(admin, tmp_path, f'''
        out = client.snapshot_instance({instance["uuid"]!r}, all=False, device='vda', thin=True)
        snaps = client.get_instance_snapshots({instance["uuid"]!r})
        print(json.dumps({{'out': out, 'states': {{s['blob_uuid']: s['state'] for s in snaps}}}}))
    ''')
    assert list(result['out']) == ['vda']
    assert result['states'][result['out']['vda']['blob_uuid']] == 'created'


@pytest.mark.server_profile('latest')  # network-delete-async: 0.7.2 has no operation to poll
def test_cli_network_create_and_delete_polls_the_op(admin: Api, tmp_path: Path) -> None:
    net = sf_client(admin, tmp_path, 'network', 'create', 'cli-net', '10.20.0.0/24')
    assert net['state'] == 'created' and net['netblock'] == '10.20.0.0/24'
    shown = sf_client(admin, tmp_path, 'network', 'show', 'cli-net')
    assert shown['uuid'] == net['uuid'] and shown['metadata'] == {}
    op = sf_client(admin, tmp_path, 'network', 'delete', net['uuid'])
    assert op['operation_type'] == 'net_op' and op['state'] == 'complete'
    assert admin.ok('GET', f'/networks/{net["uuid"]}')['state'] == 'deleted'


@pytest.mark.server_profile('latest')  # 0.7.2 has no cluster operations
def test_client_cluster_operation_calls(admin: Api, tmp_path: Path) -> None:
    network = create_network(admin)
    result = client_python(admin, tmp_path, f'''
        handle = client.delete_network({network["uuid"]!r}, wait=False)
        final = client._poll_cluster_operation(handle['op_type'], handle['op_uuid'])
        chain = client.get_cluster_operation_chain(handle['op_uuid'])
        by_target = client.list_cluster_operations_for_target('network', {network["uuid"]!r})
        print(json.dumps({{'handle': handle, 'final': final, 'chain': chain, 'by_target': by_target}}))
    ''')
    assert result['final']['state'] == 'complete' and result['final']['uuid'] == result['handle']['op_uuid']
    assert [op['uuid'] for op in result['chain']] == [result['handle']['op_uuid']]
    assert {op['tasks'][0] for op in result['by_target']} == {'network_deploy', 'network_apply_delete_network_node'}


def test_namespace_clean_confirm_then_delete(admin: Api, tmp_path: Path) -> None:
    tenant = make_namespace(admin)
    tenant.upload_bytes('tenant-base', b'tenant image')
    network = create_network(tenant)
    instances = [
        tenant.ok('POST', '/instances', instance_body(unique('vm'), [disk(f'sf://upload/{tenant.namespace}/tenant-base')],
                                                      network=[{'network_uuid': network['uuid']}]))
        for _ in range(2)
    ]
    for instance in instances:
        wait_state(tenant, f'/instances/{instance["uuid"]}', 'created')
    shared = admin.upload_bytes('shared-keep', b'shared by system')
    admin.ok('POST', f'/artifacts/{shared["uuid"]}/share')
    assert admin.error('DELETE', f'/auth/namespaces/{tenant.namespace}') == (
        400, 'you cannot delete a namespace with instances')
    sf_client(admin, tmp_path, 'namespace', 'clean', '--confirm', '--namespace', tenant.namespace)
    for instance in instances:
        assert admin.ok('GET', f'/instances/{instance["uuid"]}')['state'] == 'deleted'
    # Without network-delete-async (0.7.2) the client does not wait for the network: the server deletes it soon.
    wait_state(admin, f'/networks/{network["uuid"]}', 'deleted', timeout=10)
    assert tenant.ok('GET', '/instances') == [] and tenant.ok('GET', '/networks') == []
    assert [a['uuid'] for a in tenant.ok('GET', '/artifacts')] == [shared['uuid']]  # only the shared one is left
    sf_client(admin, tmp_path, 'namespace', 'delete', tenant.namespace)
    assert admin.ok('GET', f'/artifacts/{shared["uuid"]}')['state'] == 'created'
    assert admin.call('GET', f'/auth/namespaces/{tenant.namespace}').status_code == 404
