"""Many forks at once, the normal case under AWX: eight publishes of different files under one name, 8 and 16 of one
file, eight label moves of one label; and 8 and 16 forks pointing one label at one image or deleting one image.
Every run must report its own content, nothing a run did not create may be deleted, and no history entry may be
lost. Checked with the API afterwards, not with the code under test."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.forks import PUBLISH, connection, forks_on_one_image, run_forks
from tools.sfsupport.backend import Backend

FORKS = 8
MIB = 1024 * 1024


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def versions_of(backend: Backend, namespace: str, key: str, source_url: str) -> list[dict[str, Any]]:
    found = [a for a in backend.call('GET', '/artifacts', namespace=namespace, key=key) or []
             if a['source_url'] == source_url]
    assert len(found) == 1, found
    return list(backend.call('GET', f'/artifacts/{found[0]["uuid"]}/versions', namespace=namespace, key=key))


def deletes_since(backend: Backend, mark: int) -> list[str]:
    if not backend.is_emulator:
        return []
    return [f'{r["method"]} {r["path"]}' for r in backend.emulator.request_log(since=mark) if r['method'] == 'DELETE']


def test_eight_different_files_under_one_name(backend: Backend, tmp_path: Path) -> None:
    namespace, key = backend.new_namespace('forks')
    hosts = {}
    for number in range(FORKS):
        path = tmp_path / f'image-{number}.img'
        path.write_bytes(os.urandom(2 * MIB + number * 4099))
        hosts[f'fork{number}'] = {'image_name': 'shared-name', 'image_file': str(path),
                                  'state_dir': str(tmp_path / 'state')}
    mark = backend.request_mark()
    results = run_forks(tmp_path, connection(backend, namespace, key), PUBLISH, hosts)
    for host, result in results.items():
        expected = sha512(Path(hosts[host]['image_file']))
        assert not result.get('failed'), result
        assert result['changed'] and result['sha512'] == expected, result
        # Its own version, with its own content: never another fork's.
        assert result['version']['sha512'] == expected, (host, result['version'])
    indexes = sorted(result['version']['index'] for result in results.values())
    assert len(set(indexes)) == FORKS, indexes
    stored = versions_of(backend, namespace, key, f'sf://upload/{namespace}/shared-name')
    assert sorted(v['sha512'] for v in stored) == sorted(sha512(Path(h['image_file'])) for h in hosts.values())
    assert sorted(v['index'] for v in stored) == indexes
    assert deletes_since(backend, mark) == []


@pytest.mark.parametrize('forks', [8, 16])
def test_forks_publishing_one_file_make_one_version_and_one_upload(
        backend: Backend, tmp_path: Path, forks: int) -> None:
    namespace, key = backend.new_namespace('forks')
    path = tmp_path / 'image.img'
    path.write_bytes(os.urandom(3 * MIB + 17))
    hosts = {f'fork{n}': {'image_name': 'same', 'image_file': str(path), 'state_dir': str(tmp_path / 'state')}
             for n in range(forks)}
    mark = backend.request_mark()
    results = run_forks(tmp_path, connection(backend, namespace, key), PUBLISH, hosts, forks=forks)
    expected = sha512(path)
    assert all(not r.get('failed') and r['version']['sha512'] == expected for r in results.values()), results
    assert len({r['version']['index'] for r in results.values()}) == 1
    # Runs on one host take turns on one file: the first uploads, the others find the content there.
    assert sum(1 for r in results.values() if r['changed']) == 1, [r['actions'] for r in results.values()]
    assert sum(r['uploaded_bytes'] for r in results.values()) == path.stat().st_size
    stored = versions_of(backend, namespace, key, f'sf://upload/{namespace}/same')
    assert [v['sha512'] for v in stored] == [expected]
    assert deletes_since(backend, mark) == []


LABEL = '''
    - name: Move the one label
      shakenfist.storage.sf_label:
        name: moving
        target: "{{ image_name }}"
        max_versions: 20
      register: outcome
      ignore_errors: true
'''


def test_eight_moves_of_one_label_lose_no_history(backend: Backend, tmp_path: Path) -> None:
    namespace, key = backend.new_namespace('forks')
    hosts = {}
    for number in range(FORKS):
        path = tmp_path / f'l{number}.img'
        path.write_bytes(os.urandom(4096 + number))
        hosts[f'fork{number}'] = {'image_name': f'img-{number}', 'image_file': str(path),
                                  'state_dir': str(tmp_path / 'state')}
    # The images first (one at a time is not the point here), then every fork moves the label at once.
    run_forks(tmp_path / 'prepare', connection(backend, namespace, key), PUBLISH, hosts)
    results = run_forks(tmp_path, connection(backend, namespace, key), LABEL, hosts)
    assert all(not r.get('failed') for r in results.values()), results
    labels = [a for a in backend.call('GET', '/artifacts', namespace=namespace, key=key)
              if a['source_url'] == f'sf://label/{namespace}/moving']
    assert len(labels) == 1, labels
    metadata = backend.call('GET', f'/artifacts/{labels[0]["uuid"]}/metadata', namespace=namespace, key=key)
    versions = backend.call('GET', f'/artifacts/{labels[0]["uuid"]}/versions', namespace=namespace, key=key)
    recorded = {int(k.rsplit('.', 1)[1]): v for k, v in metadata.items()
                if k.startswith('shakenfist.storage.resolved_from.')}
    assert sorted(recorded) == sorted(v['index'] for v in versions), (recorded, versions)
    # Each entry names the image whose blob that version holds.
    image_of_blob = {}
    for variables in hosts.values():
        ref = f'sf://upload/{namespace}/{variables["image_name"]}'
        image_of_blob[versions_of(backend, namespace, key, ref)[0]['uuid']] = ref
    for version in versions:
        assert recorded[version['index']]['ref'] == image_of_blob[version['uuid']], (version, recorded)


@pytest.mark.parametrize('forks', [8, 16])
def test_forks_pointing_one_label_at_one_image_take_turns(backend: Backend, tmp_path: Path, forks: int) -> None:
    namespace, key, mark, results = forks_on_one_image(backend, tmp_path, forks, LABEL)
    # Runs on one host take turns per label: the first creates it, the others find it pointing there already.
    assert sum(1 for r in results.values() if r['changed']) == 1, [r['actions'] for r in results.values()]
    assert len({r['label']['uuid'] for r in results.values()}) == 1
    labels = [a for a in backend.call('GET', '/artifacts', namespace=namespace, key=key)
              if a['source_url'] == f'sf://label/{namespace}/moving']
    versions = backend.call('GET', f'/artifacts/{labels[0]["uuid"]}/versions', namespace=namespace, key=key)
    [image] = versions_of(backend, namespace, key, f'sf://upload/{namespace}/img')
    assert [v['uuid'] for v in versions] == [image['uuid']]
    assert deletes_since(backend, mark) == []


DELETE = '''
    - name: Delete the image
      shakenfist.storage.sf_image_publish:
        name: "{{ image_name }}"
        state: absent
      register: outcome
      ignore_errors: true
'''


@pytest.mark.parametrize('forks', [8, 16])
def test_forks_deleting_one_image_take_turns(backend: Backend, tmp_path: Path, forks: int) -> None:
    namespace, key, mark, results = forks_on_one_image(backend, tmp_path, forks, DELETE)
    # Runs on one host take turns per artifact: the first deletes it, the others find it gone.
    assert sum(1 for r in results.values() if r['changed']) == 1, [r['actions'] for r in results.values()]
    if backend.is_emulator:
        assert len(deletes_since(backend, mark)) == 1
    left = [a for a in backend.call('GET', '/artifacts', namespace=namespace, key=key)
            if a['source_url'] == f'sf://upload/{namespace}/img' and a['state'] != 'deleted']
    assert left == []
