"""Processes started by integration tests: finding and killing a playbook's module process."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def descendants(root: int) -> list[int]:
    """Every process below `root`, children first (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found = children + found
        frontier = children
    return found


def kill_tree(root: int) -> None:
    """SIGKILL `root` and every process below it, children first, as an AWX job timeout or a lost controller does.
    Ansible's workers start sessions of their own, so the module is only found as a descendant of the playbook."""
    for pid in [*descendants(root), root]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
