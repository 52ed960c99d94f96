"""8 and 16 forks publishing one image from one URL at once, fetched by the cluster and by the controller: runs on
one host take turns per artifact, so one run makes the image and reports a change, and each later one finds that
version already there. Checked with the API and the emulator's request log, not with the code under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.forks import connection, run_forks
from tools.sfsupport.backend import Backend

TASK = '''
    - name: Publish the image from its URL
      shakenfist.storage.sf_image_publish:
        name: from-url
        url: "{{ image_url }}"
        fetch: FETCH
      register: outcome
      ignore_errors: true
'''


@pytest.mark.parametrize('fetch', ['cluster', 'controller'])
@pytest.mark.parametrize('forks', [8, 16])
def test_forks_publishing_one_url_make_one_version(backend: Backend, file_server: tuple[str, Path], tmp_path: Path,
                                                   forks: int, fetch: str) -> None:
    if fetch == 'cluster' and not backend.is_emulator:
        pytest.skip('the real 0.7.2 tier fetches no URLs: it runs no queue daemons')
    url, root = file_server
    name = f'{tmp_path.name}.img'
    (root / name).write_bytes(os.urandom(2 * 1024 * 1024 + 11))
    namespace, key = backend.new_namespace('urlforks')
    mark = backend.request_mark()
    results = run_forks(tmp_path, connection(backend, namespace, key), TASK.replace('FETCH', fetch),
                        {f'fork{n}': {'image_url': f'{url}/{name}'} for n in range(forks)}, forks=forks,
                        env={'HOME': str(tmp_path / 'home')})
    outcomes = list(results.values())
    assert all(not o.get('failed') for o in outcomes), [o.get('msg') for o in outcomes if o.get('failed')]
    assert sum(bool(o['changed']) for o in outcomes) == 1, [o['actions'] for o in outcomes]
    assert len({o['version']['blob_uuid'] for o in outcomes}) == 1
    images = [a for a in backend.call('GET', '/artifacts', namespace=namespace, key=key)
              if a['namespace'] == namespace and a['state'] != 'deleted']
    assert len(images) == 1, images
    versions = backend.call('GET', f'/artifacts/{images[0]["uuid"]}/versions', namespace=namespace, key=key)
    assert len(versions) == 1, versions
    if backend.is_emulator:
        assert [r['path'] for r in backend.write_requests_since(mark) if r['method'] == 'DELETE'] == []
