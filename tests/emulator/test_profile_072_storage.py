"""The 0.7.2 profile on artifacts, labels and blobs, beyond what conformance/test_server_profile_0_7_2.py pins:
max_versions as given, the listing's node filter, routes 0.7.2 has not, body keys its handlers do not take, and the
qcow2 header check behind a refused convert (compared with qemu-img itself where it is installed).

These run on a shared emulator of that profile; the real tier skips them (it checks the conformance file).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from sfe_helpers import Api, unique

from sf_emulator.models.qcow2_header import open_error

pytestmark = [pytest.mark.server_profile('0.7.2'),
              pytest.mark.skipif(os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real',
                                 reason='the emulator side of the 0.7.2 profile')]


def qcow2(version: int = 3, cluster_bits: int = 16, refcount_clusters: int = 1, l1_size: int = 1,
          header_length: int = 104, size: int = 1 << 20) -> bytes:
    """A qcow2 header (v2 or v3) with its tables where a small image has them, and room behind it."""
    head = b'QFI\xfb' + struct.pack('>IQIIQIIQQIIQ', version, 0, 0, cluster_bits, size, 0, l1_size, 3 << 16,
                                    1 << 16, refcount_clusters, 0, 0)
    if version == 3:
        head += struct.pack('>QQQII', 0, 0, 0, 4, header_length)
    return head + bytes(4096)


HEADERS = {
    'not qcow at all': (b'plain bytes', None),
    'version 0 is raw to qemu': (b'QFI\xfb' + bytes(100), None),
    'cluster bits 0': (b'QFI\xfb' + struct.pack('>I', 3) + bytes(64), 'Unsupported cluster size: 2^0'),
    'short file': (b'QFI\xfb' + struct.pack('>I', 3), 'Unsupported cluster size: 2^0'),
    'version 4': (qcow2(version=4), 'Unsupported qcow2 version 4'),
    'header too short': (qcow2(header_length=72), 'qcow2 header too short'),
    'no refcount table': (qcow2(refcount_clusters=0), 'Image does not contain a reference count table'),
    'L1 too small': (qcow2(l1_size=0), 'L1 table is too small'),
    'a sound v2 header': (qcow2(version=2), None),
    'a sound v3 header': (qcow2(), None),
}


@pytest.mark.parametrize('name', list(HEADERS))
def test_qcow2_header_check_says_what_qemu_img_says(tmp_path: Path, name: str) -> None:
    data, expected = HEADERS[name]
    path = tmp_path / 'image'
    path.write_bytes(data)
    assert open_error(path) == expected
    if shutil.which('qemu-img'):  # the oracle, where installed
        run = subprocess.run(['qemu-img', 'info', '--force-share', str(path)], capture_output=True, text=True,
                             check=False)
        said = None if run.returncode == 0 else run.stderr.strip().split("': ", 1)[-1]
        assert said == expected


def test_a_refused_convert_leaves_a_blob_without_sha512_and_an_empty_upload(system: Api) -> None:
    data = b'QFI\xfb' + struct.pack('>I', 3) + bytes(64)
    upload = system.ok('POST', '/upload')['uuid']
    system.ok('POST', f'/upload/{upload}', data=data, headers={'Content-Type': 'application/octet-stream'})
    answer = system.call('POST', f'/artifacts/upload/{unique("broken")}', {'upload_uuid': upload})
    assert answer.status_code == 500
    blob_uuid = answer.json()['error'].split('/blobs/', 1)[1].split('/')[1].split("'")[0]
    blob = system.ok('GET', f'/blobs/{blob_uuid}')
    assert (blob['state'], blob['reference_count'], blob['sha512'], blob['size']) == ('created', 0, None, len(data))
    assert system.ok('POST', f'/upload/{upload}', data=b'', headers={'Content-Type': 'application/octet-stream'}) == 0


def test_max_versions_is_taken_as_given(system: Api) -> None:
    name = unique('mv')
    art = None
    for n in range(3):
        art = system.upload_bytes(name, f'version {n}'.encode())
    assert art is not None and sorted(art['blobs']) == ['1', '2', '3']
    versions = f'/artifacts/{art["uuid"]}/versions'
    assert system.error('POST', versions, {'max_versions': 'lots'}) == (400, 'max version is not an integer')
    assert system.ok('POST', versions, {'max_versions': -1}) is None  # accepted, and it trims the oldest one
    assert sorted(system.ok('GET', f'/artifacts/{art["uuid"]}')['blobs']) == ['2', '3']
    label = unique('label')
    blob = art['blob_uuid']
    assert system.error('POST', f'/label/{label}', {'blob_uuid': blob, 'max_versions': 'x'}) == (
        400, "'>' not supported between instances of 'int' and 'str'")
    made = [a for a in system.ok('GET', '/artifacts') if a['source_url'] == f'sf://label/system/{label}']
    assert [(a['state'], a['blobs']) for a in made] == [('initial', {})]
    updated = system.ok('POST', f'/label/{label}', {'blob_uuid': blob, 'max_versions': 'x'})  # exists: ignored
    assert (updated['state'], updated['blob_uuid'], updated['max_versions']) == ('created', blob, 3)


def test_the_listing_filters_by_node_and_views_are_0_7_2s(system: Api) -> None:
    art = system.upload_bytes(unique('node'), b'on localhost')
    assert art['uuid'] in [a['uuid'] for a in system.ok('GET', '/artifacts', {'node': 'localhost'})]
    assert system.ok('GET', '/artifacts', {'node': 'elsewhere'}) == []
    listed = [a for a in system.ok('GET', '/artifacts') if a['uuid'] == art['uuid']][0]
    assert set(listed) == {'uuid', 'state', 'metadata', 'version', 'artifact_type', 'source_url', 'max_versions',
                           'namespace', 'shared', 'index', 'blob_uuid', 'blobs'}
    assert listed['version'] == 6 and set(listed['blobs']['1']) == {'uuid', 'size', 'reference_count', 'depends_on'}
    blob = system.ok('GET', f'/blobs/{art["blob_uuid"]}')
    assert blob['locations'] == ['localhost'] and not {'checksums', 'references_to', 'references_from'} & set(blob)


@pytest.mark.parametrize('path', ['/blobs/{blob}/events', '/blobs/{blob}/checksum/sha512',
                                  '/blob_checksums/sha256/{sha}', '/artifacts/{art}/clusteroperations'])
def test_routes_0_7_2_has_not_are_flasks_404(system: Api, path: str) -> None:
    art = system.upload_bytes(unique('routes'), b'routes')
    answer = system.call('GET', path.format(blob=art['blob_uuid'], art=art['uuid'], sha='0' * 64))
    assert answer.status_code == 404 and answer.headers['Content-Type'] == 'text/html; charset=utf-8'


def test_body_keys_are_those_the_0_7_2_handlers_take(system: Api) -> None:
    assert system.error('POST', '/upload', {'size': 1}) == (
        400, "UploadCreateEndpoint.post() got an unexpected keyword argument 'size'")
    art = system.upload_bytes(unique('keys'), b'keys')
    system.ok('PUT', f'/artifacts/{art["uuid"]}/metadata/k', {'value': 'v'})
    # 0.7.2's metadata delete takes a `value` it never reads; the emulator's handler has none: ignored
    assert system.ok('DELETE', f'/artifacts/{art["uuid"]}/metadata/k', {'value': 'v'}) is None
    assert system.error('DELETE', f'/artifacts/{art["uuid"]}', {'namespace': 'system'}) == (
        400, "ArtifactEndpoint.delete() got an unexpected keyword argument 'namespace'")
