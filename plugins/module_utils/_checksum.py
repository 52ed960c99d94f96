# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming sha512 of local files, with an optional cache so unchanged multi-GB files are not re-hashed.

The cache key is (device, inode, size, mtime_ns, ctime_ns). ctime changes on every write to a file and no
ordinary tool can set it back, so a cached hash is only reused for bytes that cannot have changed: that is
what makes the cache safe to have on by default.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Dict, Optional

READ_SIZE = 4 * 1024 * 1024
CACHE_FILE = 'sha512-cache.json'
MAX_ENTRIES = 512


def file_identity(path: str) -> str:
    info = os.stat(path)
    return f'{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}'


def sha512_of(path: str) -> str:
    digest = hashlib.sha512()
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with open(path, 'rb', buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


class ChecksumCache:
    """A small JSON file of identity -> sha512; any problem with it just means hashing again."""

    def __init__(self, directory: Optional[str]) -> None:
        self.path = os.path.join(directory, CACHE_FILE) if directory else None

    def _load(self) -> Dict[str, Dict[str, str]]:
        if not self.path:
            return {}
        try:
            with open(self.path, encoding='utf-8') as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, path: str) -> Optional[str]:
        entry = self._load().get(os.path.realpath(path))
        if entry and entry.get('identity') == file_identity(path):
            return entry.get('sha512')
        return None

    def put(self, path: str, identity: str, sha512: str) -> None:
        if not self.path:
            return
        data = self._load()
        data[os.path.realpath(path)] = {'identity': identity, 'sha512': sha512}
        if len(data) > MAX_ENTRIES:
            for stale in list(data)[: len(data) - MAX_ENTRIES]:
                del data[stale]
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix='.sha512-')
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                json.dump(data, handle)
            os.replace(temp, self.path)
        except OSError:
            pass  # A cache we cannot write is only slower next time.


def file_sha512(path: str, cache: Optional[ChecksumCache] = None) -> tuple:
    """Returns (sha512, came_from_cache). The identity is read before hashing so a concurrent write is caught."""
    if cache:
        cached = cache.get(path)
        if cached:
            return cached, True
    identity = file_identity(path)
    value = sha512_of(path)
    if cache and file_identity(path) == identity:
        cache.put(path, identity, value)
    return value, False
