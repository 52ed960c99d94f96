"""The sf_instances inventory plugin against the emulator, as a user runs it: `ansible-inventory --list` over an
`*.sf_instances.yml` file with the connection in SHAKENFIST_* variables, a play over `sf_outdated_web`, and the
same under ansible-runner with the environment the AWX credential type injects.

Instances boot from `label:web` and from the image itself; moving the label (and publishing a new version) puts
them in `sf_outdated` and `sf_outdated_web`. The emulator's request log proves the plugin reads the instances and
the artifacts once each for the whole inventory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from tests.integration.test_awx_runner import credential_type, inject
from tools.sfsupport.backend import Backend

pytestmark = pytest.mark.skipif(os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real',
                                reason='the real tier has no hypervisor: instances run on the emulator only')

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get('VIRTUAL_ENV', ROOT / '.venv')) / 'bin'
INVENTORY = 'plugin: shakenfist.storage.sf_instances\n'

REBUILD = '''---
- name: Rebuild what runs an outdated image (here, only say so)
  hosts: sf_outdated_web
  serial: 1
  gather_facts: false
  connection: local
  tasks:
    - name: Name the instance and why it is outdated
      ansible.builtin.debug:
        msg: "rebuild {{ sf_uuid }}: {{ sf_disks | selectattr('outdated') | map(attribute='reason') | first }}"
'''


@dataclass
class Cluster:
    namespace: str
    key: str
    network: str
    instances: dict[str, str]  # name -> uuid


def call(backend: Backend, cluster: Cluster | tuple[str, str], method: str, path: str, body: Any = None) -> Any:
    namespace, key = (cluster.namespace, cluster.key) if isinstance(cluster, Cluster) else cluster
    return backend.call(method, path, body, namespace=namespace, key=key)


def publish(backend: Backend, who: Cluster | tuple[str, str], name: str) -> str:
    """A new version of image `name` (random bytes); its blob UUID."""
    upload = call(backend, who, 'POST', '/upload')
    namespace, key = (who.namespace, who.key) if isinstance(who, Cluster) else who
    backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(64 * 1024), namespace=namespace, key=key)
    artifact = call(backend, who, 'POST', f'/artifacts/upload/{name}', {'upload_uuid': upload['uuid']})
    return str(artifact['blob_uuid'])


def boot(backend: Backend, cluster: Cluster, name: str, base: str, network: bool = True) -> str:
    made = call(backend, cluster, 'POST', '/instances', {
        'name': name, 'cpus': 1, 'memory': 1024, 'configdrive': 'openstack-disk',
        'network': [{'network_uuid': cluster.network}] if network else [],
        'disk': [{'size': 8, 'base': base, 'type': 'disk'}, {'size': 1, 'base': None, 'type': 'disk'}]})
    return str(made['uuid'])


def wait_created(backend: Backend, cluster: Cluster) -> None:
    deadline = time.monotonic() + 120
    for uuid in cluster.instances.values():
        while call(backend, cluster, 'GET', f'/instances/{uuid}')['state'] != 'created':
            assert time.monotonic() < deadline, f'instance {uuid} never booted'
            time.sleep(0.2)


@pytest.fixture
def cluster(backend: Backend) -> Cluster:
    """web1 and web2 boot from label:web, db1 from the image itself (no network); the label points at v1."""
    namespace, key = backend.new_namespace('inv')
    who = (namespace, key)
    blob = publish(backend, who, 'base')
    call(backend, who, 'POST', '/label/web', {'blob_uuid': blob})
    network = call(backend, who, 'POST', '/networks', {'netblock': '10.20.0.0/24', 'name': 'net'})['uuid']
    deadline = time.monotonic() + 120
    while call(backend, who, 'GET', f'/networks/{network}')['state'] != 'created':
        assert time.monotonic() < deadline, 'the network never came up'
        time.sleep(0.2)
    made = Cluster(namespace, key, network, {})
    made.instances['web1'] = boot(backend, made, 'web1', 'label:web')
    made.instances['web2'] = boot(backend, made, 'web2', 'label:web')
    made.instances['db1'] = boot(backend, made, 'db1', f'sf://upload/{namespace}/base', network=False)
    wait_created(backend, made)
    return made


def environment(backend: Backend, tmp_path: Path, namespace: str, key: str, **extra: str) -> dict[str, str]:
    home = tmp_path / 'home'
    home.mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items() if not name.startswith(('SHAKENFIST_', 'ANSIBLE_'))}
    env.update({'HOME': str(home), 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
                'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true',
                'SHAKENFIST_API_URL': backend.url, 'SHAKENFIST_NAMESPACE': namespace, 'SHAKENFIST_KEY': key, **extra})
    return env


def inventory_file(tmp_path: Path, text: str = INVENTORY, name: str = 'cluster.sf_instances.yml') -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_inventory(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / 'ansible-inventory'), '-i', str(path), '--list'], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def listing_of(env: dict[str, str], path: Path) -> dict[str, Any]:
    """`ansible-inventory --list`, which must succeed."""
    done = run_inventory(env, path)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(plain(json.loads(done.stdout)))


def refused(env: dict[str, str], path: Path) -> str:
    """`ansible-inventory --list`, which must fail (ANSIBLE_INVENTORY_UNPARSED_FAILED); what it printed, as one line
    (ansible-core 2.18 wraps warnings at the terminal's width)."""
    done = run_inventory(env, path)
    assert done.returncode != 0, done.stdout
    return ' '.join((done.stdout + done.stderr).split())


def plain(value: Any) -> Any:
    """The listing without ansible-core 2.19's markers of untrusted strings ({"__ansible_unsafe": text}): every
    value an inventory plugin sets is data, never a template."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def hosts(listing: dict[str, Any], group: str) -> list[str]:
    return sorted(listing.get(group, {}).get('hosts', []))


def test_groups_and_host_variables_follow_the_label_and_the_image(
        backend: Backend, cluster: Cluster, tmp_path: Path) -> None:
    env = environment(backend, tmp_path, cluster.namespace, cluster.key)
    path = inventory_file(tmp_path)
    listing = listing_of(env, path)

    ns_group = 'sf_namespace_' + cluster.namespace.replace('-', '_')
    assert hosts(listing, ns_group) == ['db1', 'web1', 'web2']
    assert hosts(listing, 'sf_label_web') == ['web1', 'web2']
    assert hosts(listing, 'sf_artifact_base_v1') == ['db1', 'web1', 'web2']
    assert hosts(listing, 'sf_outdated') == [] and hosts(listing, 'sf_outdated_web') == []
    web1 = listing['_meta']['hostvars']['web1']
    assert web1['sf_uuid'] == cluster.instances['web1'] and web1['sf_state'] == 'created'
    assert web1['ansible_host'].startswith('10.20.0.')
    assert [(d['device'], d['artifact'], d['version'], d['label'], d['disk_base'], d['outdated'])
            for d in web1['sf_disks']] == [('vda', 'base', 1, 'web', 'label:web', False)]
    assert 'ansible_host' not in listing['_meta']['hostvars']['db1']

    # The label moves to a new version: the instances booted from it are outdated, and so is db1 (its image has a
    # newer version); a play over sf_outdated_web reaches exactly web1 and web2, one at a time.
    blob = publish(backend, cluster, 'base')
    call(backend, cluster, 'POST', '/label/web', {'blob_uuid': blob})
    listing = listing_of(env, path)
    assert hosts(listing, 'sf_outdated_web') == ['web1', 'web2']
    assert hosts(listing, 'sf_outdated') == ['db1', 'web1', 'web2']
    web1 = listing['_meta']['hostvars']['web1']
    assert web1['sf_outdated'] is True and 'label' in web1['sf_disks'][0]['reason']

    (tmp_path / 'rebuild.yml').write_text(REBUILD)
    done = subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', str(path), str(tmp_path / 'rebuild.yml')],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ('web1', 'web2'):
        assert f'rebuild {cluster.instances[name]}: label' in done.stdout
    # Which hosts the play ran on, from its task results and its recap (a uuid in a message may hold 'db1')
    assert set(re.findall(r'^\w+: \[(\w+)\]', done.stdout, re.M)) == {'web1', 'web2'}
    assert re.findall(r'^(\w+)\s+: ok=', done.stdout, re.M) == ['web1', 'web2']
    # serial: 1, one batch per host: the play's header is printed once per batch
    assert done.stdout.count('PLAY [Rebuild') == 2 and done.stdout.count('TASK [Name the instance') == 2


def test_one_listing_of_each_kind_for_the_whole_inventory(backend: Backend, cluster: Cluster, tmp_path: Path) -> None:
    mark = backend.request_mark()
    listing = listing_of(environment(backend, tmp_path, cluster.namespace, cluster.key), inventory_file(tmp_path))
    assert len(listing['_meta']['hostvars']) == 3
    reads = [(r['method'], r['path']) for r in backend.emulator.request_log(since=mark)
             if r['namespace'] == cluster.namespace and r['path'] != '/auth']
    assert sorted(reads) == [('GET', '/artifacts'), ('GET', '/instances')], reads


def test_a_bad_key_or_url_is_a_clean_error_without_the_key(
        backend: Backend, cluster: Cluster, tmp_path: Path) -> None:
    wrong = secrets.token_urlsafe(16)
    output = refused(environment(backend, tmp_path, cluster.namespace, wrong), inventory_file(tmp_path))
    assert 'shakenfist.storage.sf_instances: authentication as namespace' in output and 'Traceback' not in output
    assert wrong not in output
    output = refused(environment(backend, tmp_path, cluster.namespace, cluster.key, SHAKENFIST_API_URL='ftp://x'),
                     inventory_file(tmp_path))
    assert 'api_url must start with http:// or https://' in output and cluster.key not in output


def test_another_namespace_needs_system(backend: Backend, cluster: Cluster, tmp_path: Path) -> None:
    env = environment(backend, tmp_path, cluster.namespace, cluster.key)
    assert 'can list only its own instances' in refused(
        env, inventory_file(tmp_path, INVENTORY + 'namespaces: [system]\n'))
    system = environment(backend, tmp_path, 'system', backend.system_key)
    listing = listing_of(system, inventory_file(
        tmp_path, INVENTORY + f'namespaces: [{cluster.namespace}]\n', name='sys.sf_instances.yml'))
    assert sorted(listing['_meta']['hostvars']) == ['db1', 'web1', 'web2']
    assert hosts(listing, 'sf_label_web') == ['web1', 'web2']


def test_an_awx_inventory_source_with_the_credential_type(
        backend: Backend, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWX runs `ansible-inventory` through ansible-runner with only what the credential injects; then a job uses
    the groups."""
    for name in list(os.environ):
        if name.startswith('SHAKENFIST_'):
            monkeypatch.delenv(name)
    injected = inject(credential_type(), {'api_url': backend.url, 'namespace': cluster.namespace,
                                          'key': cluster.key}, tmp_path / 'job')
    home = tmp_path / 'home'
    home.mkdir()
    monkeypatch.setenv('PATH', f'{VENV_BIN}{os.pathsep}{os.environ.get("PATH", "")}')  # runner finds its commands
    envvars = {**injected, 'HOME': str(home), 'PATH': f'{VENV_BIN}{os.pathsep}{os.environ.get("PATH", "")}',
               'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
               'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true'}
    path = inventory_file(tmp_path, name='awx.sf_instances.yml')
    out, err = ansible_runner.get_inventory(action='list', inventories=[str(path)], response_format='json',
                                            envvars=envvars, private_data_dir=str(tmp_path / 'job'), quiet=True,
                                            timeout=300)
    assert isinstance(out, dict), err
    out = plain(out)
    assert sorted(out['sf_label_web']['hosts']) == ['web1', 'web2']
    assert cluster.key not in json.dumps(out) and cluster.key not in str(err)

    (tmp_path / 'job' / 'project').mkdir(parents=True, exist_ok=True)
    play = REBUILD.replace('sf_outdated_web', 'sf_label_web').replace("| selectattr('outdated') ", '')
    (tmp_path / 'job' / 'project' / 'play.yml').write_text(play)
    runner = ansible_runner.run(private_data_dir=str(tmp_path / 'job'), playbook='play.yml', inventory=str(path),
                                envvars=envvars, quiet=True, timeout=300)
    stdout = runner.stdout.read()
    assert runner.status == 'successful', stdout[-6000:]
    assert all(f'rebuild {cluster.instances[name]}' in stdout for name in ('web1', 'web2'))
    assert cluster.key not in stdout and cluster.key not in json.dumps(list(runner.events))
