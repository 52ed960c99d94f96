# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chunked, resumable upload of a local file into a Shaken Fist upload, reading the file once.

Each chunk's answer is the server's acknowledged total; on any failure we truncate back to the last
acknowledged size and send the chunk again, so a dropped connection never duplicates or loses bytes.
While a chunk is on the wire, the next one is read and the current one hashed on two helper threads (file reads,
socket writes and sha512 all release the GIL), so a fresh publish costs about one pass over the file instead of a
hash pass followed by an upload pass. An upload may start from bytes a killed earlier run already sent.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional

from ._api import SfApi
from ._checksum import file_identity, hash_prefix
from ._errors import SfError, SfInvalidInput, SfServerError, SfTimeout, SfTransportError
from ._words import plural

DEFAULT_CHUNK = 16 * 1024 * 1024
PROGRESS_EVERY = 0.1  # report progress every 10% of the file
RETRYABLE = (SfTransportError, SfServerError, SfTimeout)


@dataclass
class UploadResult:
    upload_uuid: str
    sent_bytes: int
    duration: float
    retried_chunks: int
    resumed_bytes: int
    sha512: Optional[str]


def _fill(handle: BinaryIO, buffer: bytearray, size: int) -> memoryview:
    """Read up to `size` bytes into the start of `buffer` (reused: no allocation per chunk)."""
    view = memoryview(buffer)[:size]
    filled = 0
    while filled < size:
        count = handle.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return view[:filled]


def upload_file(
    api: SfApi,
    path: str,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    retries: int = 5,
    hash_content: bool = True,
    resume_uuid: Optional[str] = None,
    resume_from: int = 0,
    on_created: Callable[[str], None] = lambda uuid: None,
    log: Callable[[str], None] = lambda message: None,
) -> UploadResult:
    """Send `path` into an upload and return its UUID (and the file's sha512 when `hash_content`).

    With `resume_uuid`, the upload already holds the file's first `resume_from` bytes (from an interrupted run):
    only the rest is sent. `on_created` hears a new upload's UUID before the first byte is sent, so that a run
    killed mid-upload can be resumed. On an error the upload is left as it is for the caller to abandon or keep.
    """
    if chunk_size < 64 * 1024:
        raise SfInvalidInput('chunk_size must be at least 64 KiB')
    identity = file_identity(path)
    if resume_uuid:
        upload_uuid, acknowledged = resume_uuid, resume_from
    else:
        upload_uuid, acknowledged = api.create_upload().uuid, 0
        on_created(upload_uuid)
    started = time.monotonic()
    digest = hash_prefix(path, acknowledged) if hash_content else None
    sent = retried = 0
    next_report = PROGRESS_EVERY
    # Two buffers, reused: one is on the wire (and being hashed) while the next chunk is read into the other, so
    # memory stays at two chunks whatever the file size.
    buffer_size = min(chunk_size, max(size - acknowledged, 1))
    buffers = [bytearray(buffer_size), bytearray(buffer_size)]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix='sf-upload') as helpers, \
            open(path, 'rb', buffering=0) as handle:
        handle.seek(acknowledged)
        reading: Optional[Future] = helpers.submit(_fill, handle, buffers[0], min(chunk_size, size - acknowledged))
        turn = 0
        while acknowledged < size:
            chunk = reading.result() if reading else memoryview(b'')
            if not chunk:
                raise SfInvalidInput(f'{path} shrank while it was being uploaded; nothing was published')
            end = acknowledged + len(chunk)
            turn ^= 1
            reading = helpers.submit(_fill, handle, buffers[turn], min(chunk_size, size - end)) if end < size \
                else None
            hashing = helpers.submit(digest.update, chunk) if digest is not None else None
            failures = 0
            while True:
                try:
                    total = api.append_upload(upload_uuid, chunk)
                    sent += len(chunk)
                    if total != end:
                        raise SfServerError(f'upload {upload_uuid} acknowledged {plural(total, "byte")}, '
                                            f'expected {end}')
                    break
                except RETRYABLE as exc:
                    failures += 1
                    if failures > retries:
                        raise
                    retried += 1
                    log(f'chunk at offset {acknowledged} failed ({exc}); resuming from there')
                    api.pause(failures, f'upload {upload_uuid}: chunk at offset {acknowledged} failed')
                    try:
                        api.truncate_upload(upload_uuid, acknowledged)
                    except SfError:
                        if acknowledged:
                            raise
                        # Nothing acknowledged yet: 0.7.2 cannot truncate an upload with no data (a 500), so
                        # start a new upload instead; the old one holds at most the failed chunk's bytes.
                        abandon(api, upload_uuid)
                        upload_uuid = api.create_upload().uuid
                        on_created(upload_uuid)
            if hashing is not None:
                hashing.result()
            acknowledged = end
            if size and acknowledged / size >= next_report:
                elapsed = max(time.monotonic() - started, 1e-6)
                log(f'uploaded {acknowledged}/{size} bytes ({100 * acknowledged // size}%, '
                    f'{acknowledged / elapsed / 1e6:.1f} MB/s)')
                next_report = acknowledged / size + PROGRESS_EVERY
    if file_identity(path) != identity:
        raise SfInvalidInput(f'{path} changed while it was being uploaded; nothing was published',
                             hint='publish a file nobody writes to meanwhile (copy it first)')
    return UploadResult(upload_uuid, sent, time.monotonic() - started, retried, resume_from if resume_uuid else 0,
                        digest.hexdigest() if digest is not None else None)


def abandon(api: SfApi, upload_uuid: str) -> None:
    """There is no upload delete route: drop the bytes so nothing half-made lingers until the upload expires."""
    with contextlib.suppress(SfError):
        api.truncate_upload(upload_uuid, 0)
