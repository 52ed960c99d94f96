"""8 and 16 forks downloading one image to one file at once, as an AWX job over many hosts with a local task does:
runs on one host take turns on the file, so one run downloads it, the others find it done, the bytes are sent once,
and nothing is left beside it. Checked with the file and the emulator's request log, not with the code under test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.integration.forks import forks_on_one_image
from tools.sfsupport.backend import Backend

SIZE = 8 * 1024 * 1024 + 4099  # long enough to be still downloading when the other forks arrive; not block-aligned


def download_task(dest: Path) -> str:
    return f'''
    - name: Download the image to the one file
      shakenfist.storage.sf_artifact_download:
        ref: "{{{{ image_name }}}}"
        dest: {dest}
      register: outcome
      ignore_errors: true
'''


@pytest.mark.parametrize('forks', [8, 16])
def test_forks_downloading_one_image_to_one_file_take_turns(backend: Backend, tmp_path: Path, forks: int) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    dest = out / 'image.img'
    _namespace, _key, mark, results = forks_on_one_image(backend, tmp_path, forks, download_task(dest), SIZE)
    source = (tmp_path / 'one.img').read_bytes()
    expected = hashlib.sha512(source).hexdigest()
    assert all(r['sha512'] == expected and r['size'] == SIZE for r in results.values()), results
    # The first run downloads; each later one waited its turn and found the file done.
    assert sum(1 for r in results.values() if r['changed']) == 1, [r['actions'] for r in results.values()]
    assert sum(r['downloaded_bytes'] for r in results.values()) == SIZE
    assert hashlib.sha512(dest.read_bytes()).hexdigest() == expected
    assert [p.name for p in out.iterdir()] == ['image.img']  # no partial file, no lock file left beside it
    if backend.is_emulator:
        reads = [r for r in backend.emulator.request_log(since=mark)
                 if r['method'] == 'GET' and r['path'].startswith('/blobs/') and r['path'].endswith('/data')]
        assert len(reads) == 1, reads
