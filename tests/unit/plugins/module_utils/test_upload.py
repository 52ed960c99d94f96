"""Chunked upload resumes from the acknowledged size, and the checksum cache only trusts unchanged files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _upload
from ansible_collections.shakenfist.storage.plugins.module_utils._checksum import ChecksumCache, file_sha512
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfInvalidInput,
    SfServerError,
    SfTransportError,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._local_state import StateDir
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Upload


class FlakyUploads:
    """Stores appended bytes; fails the chosen calls, sometimes after keeping part of the chunk (a drop)."""

    def __init__(self, failures: dict[int, str]) -> None:
        self.data = bytearray()
        self.calls = 0
        self.failures = failures
        self.truncates: list[int] = []
        self.pauses: list[int] = []
        self.pause = lambda attempt, reason, cap=8.0: self.pauses.append(attempt)

    def create_upload(self) -> Upload:
        return Upload(uuid='u-1')

    def append_upload(self, uuid: str, chunk: bytes) -> int:
        self.calls += 1
        kind = self.failures.get(self.calls)
        if kind == 'drop':
            self.data.extend(chunk[: len(chunk) // 2])
            raise SfTransportError('connection reset')
        if kind == '503':
            raise SfServerError('unavailable', status=503)
        self.data.extend(chunk)
        return len(self.data)

    def truncate_upload(self, uuid: str, offset: int) -> None:
        self.truncates.append(offset)
        del self.data[offset:]


def make_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / 'image.bin'
    path.write_bytes(os.urandom(size))
    return path


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def test_dropped_and_refused_chunks_resume_without_corruption(tmp_path: Path) -> None:
    path = make_file(tmp_path, 300 * 1024)
    api = FlakyUploads({2: 'drop', 4: '503'})
    result = _upload.upload_file(api, str(path), 300 * 1024, chunk_size=64 * 1024, retries=3)
    assert bytes(api.data) == path.read_bytes()
    assert result.retried_chunks == 2 and api.pauses == [1, 1]
    assert api.truncates == [64 * 1024, 128 * 1024]
    # Hashed while sending, once per byte despite the resent chunks.
    assert result.sha512 == sha512(path) and result.sent_bytes == 300 * 1024


def test_giving_up_raises_and_leaves_the_upload_to_the_caller(tmp_path: Path) -> None:
    path = make_file(tmp_path, 200 * 1024)
    api = FlakyUploads({n: '503' for n in range(2, 20)})
    with pytest.raises(SfServerError):
        _upload.upload_file(api, str(path), 200 * 1024, chunk_size=64 * 1024, retries=2)
    assert api.pauses == [1, 2] and 0 not in api.truncates
    _upload.abandon(api, 'u-1')
    assert not api.data


def test_resume_sends_only_the_rest_and_hashes_the_whole_file(tmp_path: Path) -> None:
    path = make_file(tmp_path, 200 * 1024)
    api = FlakyUploads({})
    api.data.extend(path.read_bytes()[:70 * 1024])
    result = _upload.upload_file(api, str(path), 200 * 1024, chunk_size=64 * 1024,
                                 resume_uuid='u-1', resume_from=70 * 1024)
    assert bytes(api.data) == path.read_bytes() and result.sent_bytes == 130 * 1024
    assert result.resumed_bytes == 70 * 1024 and result.sha512 == sha512(path)


def test_known_hash_is_not_computed_again(tmp_path: Path) -> None:
    path = make_file(tmp_path, 100 * 1024)
    result = _upload.upload_file(FlakyUploads({}), str(path), 100 * 1024, chunk_size=64 * 1024,
                                 hash_content=False)
    assert result.sha512 is None


def test_a_file_changed_during_the_upload_is_refused(tmp_path: Path) -> None:
    path = make_file(tmp_path, 128 * 1024)

    class Writer(FlakyUploads):
        def append_upload(self, uuid: str, chunk: bytes) -> int:
            if self.calls == 0:
                with open(path, 'r+b') as handle:
                    handle.write(b'changed')
            return super().append_upload(uuid, chunk)

    with pytest.raises(SfInvalidInput, match='changed while it was being uploaded'):
        _upload.upload_file(Writer({}), str(path), 128 * 1024, chunk_size=64 * 1024)


def test_checksum_cache_reuses_only_unchanged_files(tmp_path: Path) -> None:
    path = make_file(tmp_path, 1024)
    cache = ChecksumCache(StateDir(str(tmp_path / 'cache')))
    first, cached = file_sha512(str(path), cache)
    assert first == hashlib.sha512(path.read_bytes()).hexdigest() and not cached
    assert file_sha512(str(path), cache) == (first, True)
    path.write_bytes(os.urandom(1024))
    second, cached = file_sha512(str(path), cache)
    assert not cached and second == hashlib.sha512(path.read_bytes()).hexdigest()


def test_unwritable_cache_is_only_slower(tmp_path: Path) -> None:
    path = make_file(tmp_path, 10)
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('x')
    value, cached = file_sha512(str(path), ChecksumCache(StateDir(str(blocker / 'cache'))))
    assert value and not cached
