# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's small state directory on the host running a task (default ~/.cache/shakenfist.storage).

It holds the checksum cache, the records that let an interrupted upload be resumed by the next run, and lock
files that coordinate runs on one host (many forks publishing at once). Every entry is its own file written
atomically (write a temporary file, then rename), so concurrent runs never lose each other's entries; locks are
flock()s, which the kernel releases when a process dies, so a killed run never leaves a lock held. Nothing here is
needed for correctness: a directory that cannot be written only means hashing again, no resume, no coordination.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Set

MAX_ENTRIES = 512  # per kind; the oldest are dropped beyond this
DEFAULT_STATE_DIR = '~/.cache/shakenfist.storage'


def _key(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:40]


def _load(path: str) -> Optional[Dict[str, Any]]:
    """An entry's data; None for one that is missing, unreadable or not a JSON object."""
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class StateDir:
    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)

    def _file(self, kind: str, key: str) -> str:
        return os.path.join(self.path, kind, _key(key) + '.json')

    def _ensure(self, kind: str) -> Optional[str]:
        directory = os.path.join(self.path, kind)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            return None
        return directory

    def read(self, kind: str, key: str) -> Optional[Dict[str, Any]]:
        return _load(self._file(kind, key))

    def write(self, kind: str, key: str, value: Dict[str, Any]) -> None:
        directory = self._ensure(kind)
        if directory is None:
            return
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                json.dump({**value, 'key': key, 'written': time.time()}, handle)
            os.replace(temp, self._file(kind, key))
        except OSError:
            return  # a state file we cannot write only costs work next time
        self._prune(directory)

    def remove(self, kind: str, key: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._file(kind, key))

    def entries(self, kind: str) -> List[Dict[str, Any]]:
        directory = os.path.join(self.path, kind)
        try:
            names = [name for name in os.listdir(directory) if name.endswith('.json')]
        except OSError:
            return []
        return [data for data in (_load(os.path.join(directory, name)) for name in names) if data is not None]

    @staticmethod
    def _prune(directory: str) -> None:
        with contextlib.suppress(OSError):
            names = [n for n in os.listdir(directory) if n.endswith('.json')]
            if len(names) <= MAX_ENTRIES:
                return
            aged = sorted(names, key=lambda n: os.stat(os.path.join(directory, n)).st_mtime)
            for name in aged[: len(names) - MAX_ENTRIES]:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))

    @contextlib.contextmanager
    def lock(self, name: str, blocking: bool = True) -> Iterator[bool]:
        """Hold an exclusive lock called `name` for the block; yields False when it could not be taken
        (non-blocking and held elsewhere, or no usable directory: then runs simply do not coordinate)."""
        directory = self._ensure('locks')
        handle = None
        if directory is not None:
            with contextlib.suppress(OSError):
                handle = open(os.path.join(directory, _key(name) + '.lock'), 'a')  # noqa: SIM115 - held for the block
        if handle is None:
            yield False
            return
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError:
                yield False
                return
            yield True


class Locks:
    """Locks taken during one run and released together at its end (in reverse order)."""

    def __init__(self, state: Optional[StateDir]) -> None:
        self.state = state
        self._stack = contextlib.ExitStack()
        self._names: Set[str] = set()

    def take(self, name: str) -> bool:
        if self.state is None or name in self._names:
            return False
        self._names.add(name)
        return bool(self._stack.enter_context(self.state.lock(name)))

    def release(self) -> None:
        self._stack.close()
        self._names.clear()
