# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming sha512 of local files, with an optional cache so unchanged multi-GB files are not re-hashed.

The cache key is (device, inode, size, mtime_ns, ctime_ns). ctime changes on every write to a file and no
ordinary tool can set it back, so a cached hash is only reused for bytes that cannot have changed: that is
what makes the cache safe to have on by default. Each entry is its own small file, written atomically, so
concurrent runs (many forks on one host) never lose each other's entries.
"""

from __future__ import annotations

import hashlib
import os
from typing import Optional, Tuple

from ._local_state import StateDir

READ_SIZE = 4 * 1024 * 1024


def file_identity(path: str) -> str:
    info = os.stat(path)
    return f'{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}'


def sha512_of(path: str, limit: Optional[int] = None) -> str:
    """The sha512 of the file, or of its first `limit` bytes."""
    return hash_prefix(path, limit).hexdigest()


def hash_prefix(path: str, limit: Optional[int] = None) -> hashlib._Hash:
    digest = hashlib.sha512()
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    left = limit
    with open(path, 'rb', buffering=0) as handle:
        while left is None or left > 0:
            count = handle.readinto(view if left is None or left >= READ_SIZE else view[:left])
            if not count:
                break
            digest.update(view[:count])
            if left is not None:
                left -= count
    return digest


class ChecksumCache:
    """identity -> sha512, one small JSON file per local file; any problem with it just means hashing again."""

    def __init__(self, state: Optional[StateDir]) -> None:
        self.state = state

    def get(self, path: str) -> Optional[str]:
        entry = self.state.read('sha512', os.path.realpath(path)) if self.state else None
        if entry and entry.get('identity') == file_identity(path) and isinstance(entry.get('sha512'), str):
            return entry['sha512']
        return None

    def put(self, path: str, identity: str, sha512: str) -> None:
        if self.state is not None:
            self.state.write('sha512', os.path.realpath(path), {'identity': identity, 'sha512': sha512})


def file_sha512(path: str, cache: Optional[ChecksumCache] = None) -> Tuple[str, bool]:
    """Returns (sha512, came_from_cache). The identity is read before hashing so a concurrent write is caught."""
    cached = cache.get(path) if cache else None
    if cached:
        return cached, True
    identity = file_identity(path)
    value = sha512_of(path)
    if cache and file_identity(path) == identity:
        cache.put(path, identity, value)
    return value, False
