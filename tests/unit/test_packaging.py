"""What a user needs to build and run the collection: `make build` needs only ansible-core."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make_dry_run(target: str) -> list[str]:
    """The commands `make <target>` would run from scratch (-B: every prerequisite out of date)."""
    if not shutil.which('make'):
        pytest.skip('make is not installed')
    env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    done = subprocess.run(['make', '-s', '-n', '-B', target], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.splitlines()


def test_make_build_installs_only_the_pinned_ansible_core() -> None:
    pinned = re.search(r'^ansible-core==\S+$', (ROOT / 'requirements-dev.txt').read_text(), re.MULTILINE)
    assert pinned
    commands = make_dry_run('build')
    installs = [line for line in commands if 'pip install' in line]
    assert installs, commands
    for line in installs:
        assert line.endswith(f"pip install -q '{pinned.group(0)}'"), f'make build installs more than that: {line}'
    for line in commands:
        # The dev toolchain (and the emulator's editable install, with setuptools' warning) stays out of it.
        assert 'requirements-dev.txt' not in line and '-e ./emulator' not in line, line
        assert f'{ROOT}/.venv/' not in line, f'make build uses the dev venv: {line}'
    assert any('ansible-galaxy collection build' in line for line in commands), commands
