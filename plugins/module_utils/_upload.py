# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chunked, resumable upload of a local file into a Shaken Fist upload.

Each chunk's answer is the server's acknowledged total; on any failure we truncate back to the last
acknowledged size and send the chunk again, so a dropped connection never duplicates or loses bytes.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ._api import SfApi
from ._errors import SfError, SfInvalidInput, SfServerError, SfTimeout, SfTransportError

DEFAULT_CHUNK = 16 * 1024 * 1024
PROGRESS_EVERY = 0.1  # report progress every 10% of the file


@dataclass
class UploadResult:
    upload_uuid: str
    sent_bytes: int
    duration: float
    resumed: int


def upload_file(
    api: SfApi,
    path: str,
    size: int,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    retries: int = 5,
    log: Optional[Callable[[str], None]] = None,
) -> UploadResult:
    if chunk_size < 64 * 1024:
        raise SfInvalidInput('chunk_size must be at least 64 KiB')
    upload = api.create_upload()
    started = time.monotonic()
    acknowledged = 0
    sent = 0
    resumed = 0
    next_report = PROGRESS_EVERY
    try:
        with open(path, 'rb') as handle:
            while acknowledged < size:
                handle.seek(acknowledged)
                chunk = handle.read(min(chunk_size, size - acknowledged))
                if not chunk:
                    raise SfInvalidInput(f'{path} shrank while it was being uploaded')
                failures = 0
                while True:
                    try:
                        total = api.append_upload(upload.uuid, chunk)
                        sent += len(chunk)
                        if total != acknowledged + len(chunk):
                            raise SfServerError(f'upload {upload.uuid} acknowledged {total} bytes, expected '
                                                f'{acknowledged + len(chunk)}')
                        acknowledged = total
                        break
                    except (SfTransportError, SfServerError, SfTimeout) as exc:
                        failures += 1
                        if failures > retries:
                            raise
                        resumed += 1
                        if log:
                            log(f'chunk at offset {acknowledged} failed ({exc}); resuming from there')
                        time.sleep(min(4.0, 0.2 * 2 ** (failures - 1)))
                        api.truncate_upload(upload.uuid, acknowledged)
                if log and size and acknowledged / size >= next_report:
                    elapsed = max(time.monotonic() - started, 1e-6)
                    log(f'uploaded {acknowledged}/{size} bytes ({100 * acknowledged // size}%, '
                        f'{acknowledged / elapsed / 1e6:.1f} MB/s)')
                    next_report = acknowledged / size + PROGRESS_EVERY
    except SfError:
        abandon(api, upload.uuid)
        raise
    return UploadResult(upload.uuid, sent, time.monotonic() - started, resumed)


def abandon(api: SfApi, upload_uuid: str) -> None:
    """There is no upload delete route: drop the bytes so nothing half-made lingers until the upload expires."""
    with contextlib.suppress(SfError):
        api.truncate_upload(upload_uuid, 0)
