"""Processes started by integration tests: a playbook on localhost run in the background, and finding and killing a
playbook's module process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT, VENV_BIN


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


def start_playbook(workdir: Path, playbook: str, variables: dict[str, Any]) -> tuple[subprocess.Popen[str], Path]:
    """Start `playbook` on localhost (local connection) with `variables` and `result_file`, the file its last task
    saves the registered result to; return the process, not waited for, and that file."""
    result_file = workdir / 'result.json'
    result_file.unlink(missing_ok=True)
    variables_file = workdir / 'vars.json'
    variables_file.write_text(json.dumps({**variables, 'result_file': str(result_file)}))
    playbook_file = workdir / 'play.yml'
    playbook_file.write_text(playbook)
    env = {**os.environ, 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
           'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python')}
    process = subprocess.Popen(
        [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', f'@{variables_file}',
         str(playbook_file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, result_file


def finish_playbook(process: subprocess.Popen[str], result_file: Path) -> dict[str, Any]:
    """Wait for a playbook of start_playbook: it must succeed, and its saved result hold no traceback."""
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-8000:]
    result = dict(json.loads(result_file.read_text()))
    assert 'module_stderr' not in result and 'Traceback' not in json.dumps(result), result
    return result
