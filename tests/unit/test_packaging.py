"""What a user needs to build and run the collection: `make build` needs only ansible-core."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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


# --- Getting started: from nothing, no activated virtualenv, the key never on a command line -------------------------

PAGES = [ROOT / 'README.md', ROOT / 'docs' / 'getting-started.md']
SH_BLOCK = re.compile(r'^```sh\n(.*?)^```', re.MULTILINE | re.DOTALL)
# Programs a virtualenv provides: the pages call them by path, never as if a venv were activated.
VENV_PROGRAMS = {'pip', 'pip3', 'python', 'ansible', 'ansible-galaxy', 'ansible-playbook', 'ansible-doc',
                 'sf-emulator', 'sf-client'}


def shell_commands(path: Path) -> list[str]:
    """The commands of a page's sh blocks: continuation lines joined, `&&` chains split, comments dropped."""
    text = '\n'.join(SH_BLOCK.findall(path.read_text())).replace('\\\n', ' ')
    commands = []
    for line in text.splitlines():
        for part in line.split(' && '):
            part = re.sub(r'\s+#.*$', '', part).strip()
            if part and not part.startswith('#'):
                commands.append(part)
    return commands


def program(command: str) -> str:
    words = [word for word in command.split() if not re.match(r'^[A-Z_]+=', word)]   # skip VAR=value prefixes
    return words[0] if words else ''


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_install_commands_assume_no_activated_venv(page: Path) -> None:
    for command in shell_commands(page):
        name = program(command)
        if name.rsplit('/', 1)[-1] in VENV_PROGRAMS:
            assert '/' in name, f'{page.name}: {command!r} needs an activated venv; call {name} by its path'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_install_commands_name_what_the_collection_needs(page: Path) -> None:
    commands = shell_commands(page)
    installs = [c for c in commands if program(c).endswith('/pip') and "'ansible-core" in c]
    assert len(installs) == 1, f'{page.name}: no single pip install of ansible-core: {commands}'
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())['requires_ansible']
    assert f"'ansible-core{runtime.removesuffix('.0')}'" in installs[0], installs[0]
    for requirement in (ROOT / 'requirements.txt').read_text().splitlines():
        requirement = requirement.split('#', 1)[0].strip()
        if requirement:
            assert f"'{requirement}'" in installs[0], f'{page.name}: the pip install lacks {requirement}'
    repository = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['repository']
    assert any(program(c).endswith('/ansible-galaxy') and f'collection install git+{repository}.git' in c
               for c in commands), f'{page.name}: no ansible-galaxy collection install from {repository}'


def test_adhoc_commands_take_the_key_from_the_environment() -> None:
    adhoc = [c for c in shell_commands(ROOT / 'docs' / 'getting-started.md') if program(c).endswith('/ansible')]
    assert len(adhoc) >= 3, 'docs/getting-started.md shows no ad-hoc commands'
    for command in adhoc:
        assert ' -m shakenfist.storage.' in command, command
        # ansible-core prints an ad-hoc task's arguments in its error output: no key in -a, nor beside the command.
        assert not re.search(r'key', command, re.IGNORECASE), f'the key is on the command line: {command}'


# --- The execution environment ----------------------------------------------------------------------------------------


def test_ee_base_image_is_pinned_to_a_versioned_tag() -> None:
    definition = yaml.safe_load((ROOT / 'extensions' / 'ee' / 'execution-environment.yml').read_text())
    image = definition['images']['base_image']['name']
    if '@sha256:' in image:
        return
    name, _, tag = image.rpartition(':')
    assert name and '/' not in tag, f'{image} has no tag, which means latest'
    assert re.fullmatch(r'v?\d+(\.\d+)+([-.][\w.]+)?', tag), f'{image} is not pinned to a versioned tag'


def test_bindep_names_no_python() -> None:
    """The EE definition provides the interpreter; python3 or python3-* in bindep.txt would install a second one."""
    for line in (ROOT / 'bindep.txt').read_text().splitlines():
        package = line.split('#', 1)[0].split('[', 1)[0].strip()
        assert not re.match(r'(platform-)?python', package), f'bindep.txt installs a Python: {line}'
