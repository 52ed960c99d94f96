"""Collection-level invariants: metadata is valid and every module is wired into the action group."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / 'plugins' / 'modules').glob('*.py') if not p.name.startswith('_'))


def test_galaxy_metadata() -> None:
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    assert (galaxy['namespace'], galaxy['name']) == ('shakenfist', 'storage')
    # A release version (semver, no pre-release); tests/unit/test_release.py checks the changelog has it.
    assert re.fullmatch(r'\d+\.\d+\.\d+', galaxy['version']), galaxy['version']
    assert galaxy['dependencies'] == {}
    for private in ('emulator', 'tests/real_server', 'tools', 'bench', 'Makefile', '.ci'):
        assert private in galaxy['build_ignore'], f'{private} must not ship in the collection'


def test_every_module_is_in_the_action_group() -> None:
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())
    group = runtime['action_groups']['sf'] or []
    assert sorted(group) == MODULES


def test_every_module_has_full_documentation() -> None:
    for name in MODULES:
        text = (ROOT / 'plugins' / 'modules' / f'{name}.py').read_text()
        for block in ('DOCUMENTATION', 'EXAMPLES', 'RETURN'):
            assert f'\n{block} = ' in text, f'{name} lacks {block}'
        assert 'shakenfist.storage.connection' in text, f'{name} does not use the connection fragment'
        assert 'action_group' in text, f'{name} does not document its action group'


def test_the_oldest_ansible_core_claimed_is_the_one_tested() -> None:
    """meta/runtime.yml's floor is the ansible-core `make test-oldest` installs, and sanity has its ignore file."""
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())
    floor = runtime['requires_ansible'].removeprefix('>=').split('.')[:2]
    pins = [line.split('==', 1)[1] for line in (ROOT / 'requirements-oldest.txt').read_text().splitlines()
            if line.startswith('ansible-core==')]
    assert len(pins) == 1 and pins[0].split('.')[:2] == floor, (runtime['requires_ansible'], pins)
    assert (ROOT / 'tests' / 'sanity' / f'ignore-{".".join(floor)}.txt').read_text() == ''
