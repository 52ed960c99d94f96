"""The sf_instances inventory adapter, loaded as Ansible loads it: which files it takes, the hosts, groups and
variables it adds (with the Constructable options), its one error boundary (clean, redacted, no traceback) and
its cache (keyed without the key in clear, never holding it)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfUnauthenticated
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact, Instance

KEY = 'sekrit-correct-horse-battery-staple'
BLOB1, BLOB2 = 'aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002'


def listing(label_blob: str = BLOB1) -> tuple[List[Instance], List[Artifact]]:
    def vm(name: str, ipv4: Optional[str]) -> Instance:
        return Instance.model_validate({
            'uuid': f'{name}0000-1111-4111-8111-111111111111', 'name': name, 'namespace': 'ci', 'state': 'created',
            'disk_spec': [{'base': 'label:web', 'size': 8}],
            'disks': [{'device': 'vda', 'blob_uuid': BLOB1, 'snapshot_ignores': False}],
            'interfaces': [{'order': 0, 'ipv4': ipv4}] if ipv4 else []})

    artifacts = [Artifact.model_validate({'uuid': 'img', 'state': 'created', 'artifact_type': 'image',
                                          'source_url': 'sf://upload/ci/base', 'namespace': 'ci', 'index': 2,
                                          'blobs': {1: {'uuid': BLOB1}, 2: {'uuid': BLOB2}}}),
                 Artifact.model_validate({'uuid': 'lab', 'state': 'created', 'artifact_type': 'label',
                                          'source_url': 'sf://label/ci/web', 'namespace': 'ci', 'index': 1,
                                          'blobs': {1: {'uuid': label_blob}}})]
    return [vm('web1', '10.0.0.5'), vm('web2', None)], artifacts


class FakeApi:
    def __init__(self, namespace: str = 'ci', fail: Optional[Exception] = None, label_blob: str = BLOB1) -> None:
        self.namespace = namespace
        self.fail = fail
        self.instances, self.artifacts = listing(label_blob)
        self.calls: List[str] = []

    def list_instances(self) -> List[Instance]:
        self.calls.append('instances')
        if self.fail:
            raise self.fail
        return self.instances

    def list_artifacts(self) -> List[Artifact]:
        self.calls.append('artifacts')
        return self.artifacts


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    """Every client the plugin builds answers from this API; its redaction hides the key as the transport does."""
    fake = FakeApi()
    module = sys.modules[type(inventory_loader.get('shakenfist.storage.sf_instances')).__module__]
    transport = SimpleNamespace(redact=lambda text: text.replace(KEY, '********'))
    monkeypatch.setattr(module, 'client_for', lambda settings, **kw: SimpleNamespace(api=fake, transport=transport))
    for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY', 'SHAKENFIST_CA_PATH',
                 'SHAKENFIST_VALIDATE_CERTS'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', '/nonexistent')
    return fake


def source(tmp_path: Path, extra: str = '', name: str = 'prod.sf_instances.yml',
           plugin: str = 'shakenfist.storage.sf_instances') -> str:
    path = tmp_path / name
    path.write_text(f'plugin: {plugin}\napi_url: http://sf.example.com/api\nnamespace: ci\nkey: {KEY}\n{extra}')
    return str(path)


def parse(path: str, cache: bool = True) -> InventoryData:
    plugin = inventory_loader.get('shakenfist.storage.sf_instances')
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), path, cache=cache)
    if plugin.get_option('cache'):
        plugin.update_cache_if_changed()  # what the inventory manager does after a caching plugin's parse
    return inventory


def members(inventory: InventoryData, group: str) -> List[str]:
    return sorted(host.name for host in inventory.groups[group].get_hosts()) if group in inventory.groups else []


def test_verify_file_takes_only_its_own_files(tmp_path: Path) -> None:
    plugin = inventory_loader.get('shakenfist.storage.sf_instances')
    assert plugin.verify_file(source(tmp_path))
    assert plugin.verify_file(source(tmp_path, name='x.sf_instances.yaml', plugin='sf_instances'))
    assert not plugin.verify_file(source(tmp_path, name='x.sf_instances.yml', plugin='amazon.aws.aws_ec2'))
    assert not plugin.verify_file(source(tmp_path, name='hosts.yml'))
    assert not plugin.verify_file(str(tmp_path / 'missing.sf_instances.yml'))


def test_hosts_groups_and_variables(api: FakeApi, tmp_path: Path) -> None:
    inventory = parse(source(tmp_path, 'keyed_groups:\n  - key: sf_state\n    prefix: state\n'
                                       'compose:\n  booted: sf_disks[0].version\n'
                                       'groups:\n  first: sf_name == "web1"\n'))
    assert members(inventory, 'sf_label_web') == ['web1', 'web2']
    assert members(inventory, 'sf_artifact_base_v1') == ['web1', 'web2']
    assert members(inventory, 'sf_namespace_ci') == ['web1', 'web2']
    assert members(inventory, 'sf_outdated') == [] and 'sf_outdated_web' in inventory.groups
    assert members(inventory, 'state_created') == ['web1', 'web2'] and members(inventory, 'first') == ['web1']
    web1 = inventory.get_host('web1').get_vars()
    assert web1['ansible_host'] == '10.0.0.5' and str(web1['booted']) == '1' and web1['sf_outdated'] is False
    assert web1['sf_disks'][0]['label'] == 'web' and web1['sf_uuid'].startswith('web1')
    assert 'ansible_host' not in inventory.get_host('web2').get_vars()
    assert api.calls == ['instances', 'artifacts']


def test_a_moved_label_fills_the_outdated_groups(api: FakeApi, tmp_path: Path) -> None:
    api.artifacts = listing(label_blob=BLOB2)[1]
    inventory = parse(source(tmp_path))
    assert members(inventory, 'sf_outdated_web') == ['web1', 'web2'] == members(inventory, 'sf_outdated')


def test_a_bad_key_is_a_clean_error_without_the_key(api: FakeApi, tmp_path: Path) -> None:
    api.fail = SfUnauthenticated(f'authentication refused for key {KEY}', status=401)
    with pytest.raises(AnsibleParserError) as caught:
        parse(source(tmp_path))
    text = str(caught.value)
    assert text.startswith('shakenfist.storage.sf_instances: authentication refused') and KEY not in text
    assert 'check api_url, namespace and key' in text and caught.value.__cause__ is None


def test_anything_unexpected_is_a_clean_error_too(api: FakeApi, tmp_path: Path) -> None:
    api.fail = RuntimeError(f'boom {KEY}')
    with pytest.raises(AnsibleParserError, match='unexpected RuntimeError: boom \\*\\*\\*\\*\\*\\*\\*\\*') as caught:
        parse(source(tmp_path))
    assert KEY not in str(caught.value) and caught.value.__cause__ is None


@pytest.mark.parametrize('extra, message', [
    ('namespaces: [qa]\n', "namespace 'ci' can list only its own instances"),
    ('namespaces: [all]\n', 'namespaces: all needs the system namespace'),
    ('timeout: -1\n', 'timeout must be a positive number'),
])
def test_bad_options_are_refused_before_anything_is_read(api: FakeApi, tmp_path: Path, extra: str,
                                                         message: str) -> None:
    with pytest.raises(AnsibleParserError, match=message):
        parse(source(tmp_path, extra))
    assert api.calls == []


def test_missing_settings_name_where_they_were_looked_for(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / 'bare.sf_instances.yml'
    path.write_text('plugin: shakenfist.storage.sf_instances\n')
    with pytest.raises(AnsibleParserError, match='no Shaken Fist api_url given; looked in: option api_url, '
                                                 'SHAKENFIST_API_URL'):
        parse(str(path))


def test_the_environment_gives_the_connection(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SHAKENFIST_API_URL', 'http://sf.example.com/api')
    monkeypatch.setenv('SHAKENFIST_NAMESPACE', 'ci')
    monkeypatch.setenv('SHAKENFIST_KEY', KEY)
    path = tmp_path / 'env.sf_instances.yml'
    path.write_text('plugin: shakenfist.storage.sf_instances\n')
    assert members(parse(str(path)), 'sf_label_web') == ['web1', 'web2']


def test_the_cache_is_used_when_allowed_and_never_holds_or_names_the_key(api: FakeApi, tmp_path: Path) -> None:
    cache_dir = tmp_path / 'cache'
    path = source(tmp_path, f'cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {cache_dir}\n')
    assert members(parse(path), 'sf_label_web') == ['web1', 'web2']
    assert api.calls == ['instances', 'artifacts']
    files = list(cache_dir.iterdir())
    assert len(files) == 1 and KEY not in files[0].name and KEY not in files[0].read_text()
    assert 'web1' in files[0].read_text()

    api.artifacts = listing(label_blob=BLOB2)[1]
    assert members(parse(path), 'sf_outdated_web') == [], 'a cached inventory'
    assert api.calls == ['instances', 'artifacts']
    assert members(parse(path, cache=False), 'sf_outdated_web') == ['web1', 'web2'], 'a refresh reads again'
    assert api.calls == ['instances', 'artifacts'] * 2


def test_a_rotated_key_keeps_the_cache_entry_and_another_namespace_set_is_another(
        api: FakeApi, tmp_path: Path) -> None:
    cache_dir = tmp_path / 'cache'
    path = tmp_path / 'prod.sf_instances.yml'
    parse(source(tmp_path, f'cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {cache_dir}\n'))
    path.write_text(path.read_text().replace(KEY, KEY + '-rotated'))
    parse(str(path))
    assert api.calls == ['instances', 'artifacts'], 'the same cluster, caller and namespaces: the cached entry'
    path.write_text(path.read_text() + 'namespaces: [ci]\n')
    parse(str(path))
    assert api.calls == ['instances', 'artifacts'] * 2 and len(list(cache_dir.iterdir())) == 2
