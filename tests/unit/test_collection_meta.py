"""Collection-level invariants: metadata is valid and every module is wired into the action group."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / 'plugins' / 'modules').glob('*.py') if not p.name.startswith('_'))


def test_galaxy_metadata() -> None:
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    assert (galaxy['namespace'], galaxy['name']) == ('shakenfist', 'storage')
    assert galaxy['version'] == '0.1.0'
    assert galaxy['dependencies'] == {}
    for private in ('emulator', 'tests/real_server', 'Makefile', '.ci'):
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
