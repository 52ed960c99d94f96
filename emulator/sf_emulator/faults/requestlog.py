"""An in-memory log of answered requests, read by tests and benchmarks through `/_emulator/requests`."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any


class RequestLog:
    def __init__(self, max_entries: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._ids = itertools.count(1)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry['id'] = next(self._ids)
            self._entries.append(entry)

    def since(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if e['id'] > since]

    def clear(self) -> None:
        """Forget the entries; ids keep increasing so a `since` taken earlier stays meaningful."""
        with self._lock:
            self._entries.clear()
