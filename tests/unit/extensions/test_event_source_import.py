"""The sf_artifact_events plugin file loads as ansible-rulebook loads it (runpy.run_path of the file, outside
Ansible's collection loader): from an installed collection whether or not `ansible_collections` is importable, and
with a clear error when the file sits in no collection at all."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
RELATIVE = Path('extensions') / 'eda' / 'plugins' / 'event_source' / 'sf_artifact_events.py'
LOAD = ('import asyncio, runpy, sys; module = runpy.run_path(sys.argv[1]); '
        'print(asyncio.iscoroutinefunction(module["main"]))')


def load(path: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'ANSIBLE_COLLECTIONS_PATH')}
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    return subprocess.run([sys.executable, '-c', LOAD, str(path)], cwd='/', env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def installed_copy(tmp_path: Path) -> Path:
    """The collection as ansible-galaxy installs it: <root>/ansible_collections/shakenfist/storage/..."""
    collection = tmp_path / 'root' / 'ansible_collections' / 'shakenfist' / 'storage'
    shutil.copytree(ROOT / 'plugins', collection / 'plugins')
    shutil.copytree(ROOT / 'extensions' / 'eda', collection / 'extensions' / 'eda')
    return collection / RELATIVE


def test_loads_from_an_installed_collection_without_ansible_collections_on_the_path(tmp_path: Path) -> None:
    done = load(installed_copy(tmp_path))
    assert (done.returncode, done.stdout.strip()) == (0, 'True'), done.stderr


def test_loads_through_a_symlinked_collection_as_the_development_checkout_has_it(tmp_path: Path) -> None:
    link = tmp_path / 'ansible_collections' / 'shakenfist' / 'storage'
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    done = load(link / RELATIVE)
    assert (done.returncode, done.stdout.strip()) == (0, 'True'), done.stderr


def test_loads_when_ansible_collections_is_importable(tmp_path: Path) -> None:
    path = installed_copy(tmp_path)
    done = load(path, pythonpath=str(tmp_path / 'root'))
    assert (done.returncode, done.stdout.strip()) == (0, 'True'), done.stderr


def test_loads_when_another_ansible_collections_without_this_collection_is_importable(tmp_path: Path) -> None:
    other = tmp_path / 'site' / 'ansible_collections' / 'community' / 'general'
    other.mkdir(parents=True)
    done = load(installed_copy(tmp_path), pythonpath=str(tmp_path / 'site'))
    assert (done.returncode, done.stdout.strip()) == (0, 'True'), done.stderr


def test_outside_any_collection_the_import_error_is_raised(tmp_path: Path) -> None:
    alone = tmp_path / 'sf_artifact_events.py'
    shutil.copy(ROOT / RELATIVE, alone)
    done = load(alone)
    assert done.returncode != 0
    assert "No module named 'ansible_collections'" in done.stderr


def test_the_event_source_ships_in_the_collection_and_its_test_runtime_does_not() -> None:
    ignored = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['build_ignore']
    parts = RELATIVE.parts
    for depth in range(1, len(parts) + 1):
        path = '/'.join(parts[:depth])
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f'{path} is left out of the build'
    assert 'requirements-eda.txt' in ignored
