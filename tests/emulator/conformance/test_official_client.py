"""Conformance: the official client (CLI and Python apiclient) against `sf_server`."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest


def unique(prefix: str) -> str:
    return f'{prefix}-{secrets.token_hex(4)}'


@pytest.fixture
def tenant(sfclient: Any, sf_server: Any) -> tuple[str, str]:
    """A fresh namespace with a key, made with `sf-client namespace create` and `add-key`."""
    name, key = unique('conf'), 'k' + secrets.token_hex(12)  # never starts with '-' (a CLI argument)
    sfclient.cli('system', sf_server.system_key, 'namespace', 'create', name)
    sfclient.cli('system', sf_server.system_key, 'namespace', 'add-key', name, 'ci', key)
    return name, key


def _created_uuid(output: str) -> str:
    found = re.search(r'Created artifact ([0-9a-f-]{36})', output)
    assert found, output
    return found.group(1)


def test_namespace_create_add_key_delete(sfclient: Any, sf_server: Any) -> None:
    name, key = unique('conf-ns'), 'k' + secrets.token_hex(12)  # never starts with '-' (a CLI argument)
    system = ('system', sf_server.system_key)
    sfclient.cli(*system, 'namespace', 'create', name)
    sfclient.cli(*system, 'namespace', 'add-key', name, 'deploy', key)
    shown = sfclient.cli_json(*system, 'namespace', 'show', name)
    assert shown['name'] == name and 'deploy' in shown['keys']
    # The new key authenticates; a new namespace owns nothing (it may see other namespaces' shared artifacts).
    assert [a for a in sfclient.cli_json(name, key, 'artifact', 'list') if a['namespace'] == name] == []
    listed = {n['name']: n['state'] for n in sfclient.cli_json(*system, 'namespace', 'list')}
    assert listed[name] == 'created'
    sfclient.cli(*system, 'namespace', 'delete', name)
    # Gone from the list, or (0.7.2's soft delete) listed as deleted.
    after = {n['name']: n['state'] for n in sfclient.cli_json(*system, 'namespace', 'list')}
    assert after.get(name, 'deleted') == 'deleted'


def test_artifact_upload_download_versions_and_delete(sfclient: Any, sf_server: Any, tenant: tuple[str, str],
                                                      tmp_path: Path) -> None:
    ns, key = tenant
    source = tmp_path / 'disk.img'
    data = os.urandom(3 * 1024 * 1024 + 123)
    source.write_bytes(data)
    name = unique('img')
    uploaded = sfclient.cli(ns, key, 'artifact', 'upload', name, str(source))
    assert 'Uploading new blob' in uploaded.stdout
    art_uuid = _created_uuid(uploaded.stdout)

    listed = sfclient.cli_json(ns, key, 'artifact', 'list')
    assert art_uuid in [a['uuid'] for a in listed]
    shown = sfclient.cli_json(ns, key, 'artifact', 'show', name)
    assert shown['uuid'] == art_uuid
    assert sfclient.cli(ns, key, 'artifact', 'show', art_uuid).returncode == 0

    versions = sfclient.cli_json(ns, key, 'artifact', 'versions', name)
    assert len(versions) == 1 and versions[0]['sha512'] == hashlib.sha512(data).hexdigest()

    target = tmp_path / 'download.img'
    sfclient.cli(ns, key, 'artifact', 'download', name, str(target))
    assert target.read_bytes() == data

    # The same bytes under another name: the client finds the blob by sha512 and skips the upload.
    recycled = sfclient.cli(ns, key, 'artifact', 'upload', unique('copy'), str(source))
    assert 'Recycling existing blob' in recycled.stdout
    copy_uuid = _created_uuid(recycled.stdout)
    assert copy_uuid != art_uuid

    for _ in range(2):
        source.write_bytes(os.urandom(1000))
        sfclient.cli(ns, key, 'artifact', 'upload', name, str(source))
    versions = sfclient.cli_json(ns, key, 'artifact', 'versions', name)
    assert [v['index'] for v in versions] == [1, 2, 3]
    sfclient.cli(ns, key, 'artifact', 'delete-version', name, '2')
    assert [v['index'] for v in sfclient.cli_json(ns, key, 'artifact', 'versions', name)] == [1, 3]
    sfclient.cli(ns, key, 'artifact', 'max-versions', name, '1')
    assert [v['index'] for v in sfclient.cli_json(ns, key, 'artifact', 'versions', name)] == [3]

    # The CLI sends --limit as a string: newer servers coerce it, 0.7.2 fails (docs/compatibility.md), so a
    # server answering as 0.7.2 is asked without a limit.
    limit = ('--limit', '2') if sf_server.profile != '0.7.2' else ()
    events = sfclient.cli_json(ns, key, 'artifact', 'events', name, *limit)
    assert isinstance(events, list) and (len(events) <= 2 or not limit)
    if sf_server.kind == 'emulator':  # the real server writes events asynchronously
        assert len(events) >= 2 and events[0]['timestamp'] >= events[1]['timestamp']

    sfclient.cli(ns, key, 'artifact', 'delete', art_uuid)
    remaining = [a['uuid'] for a in sfclient.cli_json(ns, key, 'artifact', 'list')]
    assert art_uuid not in remaining and copy_uuid in remaining


def test_share_unshare_label_and_blob_commands(sfclient: Any, sf_server: Any, tenant: tuple[str, str],
                                               tmp_path: Path) -> None:
    system = ('system', sf_server.system_key)
    ns, key = tenant
    source = tmp_path / 'shared.img'
    data = os.urandom(200_000)
    source.write_bytes(data)
    name = unique('shared')
    art_uuid = _created_uuid(sfclient.cli(*system, 'artifact', 'upload', name, str(source), '--no-checksum').stdout)
    sfclient.cli(*system, 'artifact', 'share', art_uuid)
    assert art_uuid in [a['uuid'] for a in sfclient.cli_json(ns, key, 'artifact', 'list')]
    sfclient.cli(*system, 'artifact', 'unshare', art_uuid)
    assert art_uuid not in [a['uuid'] for a in sfclient.cli_json(ns, key, 'artifact', 'list')]

    blob_uuid = sfclient.cli_json(*system, 'artifact', 'versions', art_uuid)[0]['uuid']
    label = unique('label')
    sfclient.cli(*system, 'label', 'update', label, blob_uuid)
    label_view = sfclient.api(*system, 'result = client.get_artifact(args["label"])', label=label)
    assert label_view['artifact_type'] == 'label' and label_view['blob_uuid'] == blob_uuid

    shown = sfclient.cli(*system, 'blob', 'show', blob_uuid)
    assert blob_uuid in shown.stdout and str(len(data)) in shown.stdout
    by_hash = sfclient.cli_json(*system, 'blob', 'sha512', hashlib.sha512(data).hexdigest())
    assert by_hash['uuid'] == blob_uuid
    missing = sfclient.cli(*system, 'blob', 'sha512', '0' * 128)
    assert 'No blob found' in missing.stdout


def test_apiclient_library_calls(sfclient: Any, sf_server: Any, tenant: tuple[str, str]) -> None:
    ns, key = tenant
    data = os.urandom(5 * 1024 * 1024 + 7)
    result = sfclient.api(ns, key, '''
        import hashlib, io
        data = bytes.fromhex(args['hex'])
        upload = client.create_upload()
        sent = 0
        for start in range(0, len(data), 1024 * 1024):
            chunk = data[start:start + 1024 * 1024]
            sent = client.send_upload(upload['uuid'], chunk)
        artifact = client.upload_artifact(args['name'], upload['uuid'])
        blob = client.get_blob(artifact['blob_uuid'])
        found = client.get_blob_by_sha512(hashlib.sha512(data).hexdigest())
        missing = client.get_blob_by_sha512('0' * 128)
        received = b''.join(client.get_blob_data(artifact['blob_uuid']))
        again = client.blob_artifact(args['name'], artifact['blob_uuid'])
        client.set_artifact_max_versions(artifact['uuid'], 2)
        versions = client.get_artifact_versions(artifact['uuid'])
        listed = [a['uuid'] for a in client.get_artifacts()]
        client.set_artifact_metadata_item(artifact['uuid'], 'purpose', 'ci')
        meta = client.get_artifact_metadata(artifact['uuid'])
        events = client.get_artifact_events(artifact['uuid'])
        fetched = client.get_artifact(artifact['uuid'])
        deleted = client.delete_artifact(artifact['uuid'])
        again_deleted = client.delete_artifact(artifact['uuid'])
        result = {
            'sent': sent, 'blob_size': blob['size'], 'sha_ok': blob['sha512'] == hashlib.sha512(data).hexdigest(),
            'found': found['uuid'] == artifact['blob_uuid'], 'missing': missing,
            'bytes_ok': received == data, 'index_after_same_blob': again['index'],
            'versions': [v['index'] for v in versions], 'listed': artifact['uuid'] in listed,
            'blob_keys': sorted(fetched['blobs']), 'meta': meta, 'events': len(events),
            'deleted_state': deleted['state'], 'again_deleted': again_deleted,
        }
    ''', hex=data.hex(), name=unique('lib'))
    assert result['sent'] == len(data) and result['blob_size'] == len(data)
    assert result['sha_ok'] and result['found'] and result['bytes_ok'] and result['missing'] is None
    assert result['index_after_same_blob'] == 1 and result['versions'] == [1] and result['listed']
    assert result['blob_keys'] == [1]  # the client turns the blobs keys back into ints
    assert result['meta'] == {'purpose': 'ci'}
    assert result['events'] >= (2 if sf_server.kind == 'emulator' else 0)  # 0.7.2 writes events asynchronously
    assert result['deleted_state'] == 'deleted' and result['again_deleted'] is None


def test_apiclient_label_and_errors(sfclient: Any, sf_server: Any, tenant: tuple[str, str]) -> None:
    ns, key = tenant
    result = sfclient.api(ns, key, '''
        upload = client.create_upload()
        client.send_upload(upload['uuid'], b'label bytes')
        artifact = client.upload_artifact(args['name'], upload['uuid'])
        label = client.update_label(args['label'], artifact['blob_uuid'])
        errors = {}
        for name, call in (('missing_artifact', lambda: client.get_artifact('no-such-artifact')),
                           ('bad_blob', lambda: client.update_label(args['label'], 'no-such-blob')),
                           ('admin_only', lambda: client.create_namespace('nope-' + args['name']))):
            try:
                call()
                errors[name] = None
            except apiclient.APIException as exc:
                errors[name] = type(exc).__name__
        result = {'label_type': label['artifact_type'], 'label_blob': label['blob_uuid'] == artifact['blob_uuid'],
                  'errors': errors}
    ''', name=unique('lbl-src'), label=unique('lbl'))
    assert result['label_type'] == 'label' and result['label_blob']
    assert result['errors']['missing_artifact'] == 'ResourceNotFoundException'
    assert result['errors']['admin_only'] == 'UnauthenticatedException'
    # the real server answers 500 for an unknown blob here; the emulator a clean 404 (see emulator/README.md)
    expected = 'ResourceNotFoundException' if sf_server.kind == 'emulator' else 'InternalServerError'
    assert result['errors']['bad_blob'] == expected
