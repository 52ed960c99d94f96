"""The version in galaxy.yml is released in the changelog, and the collection users get ships that changelog."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from ansible.galaxy.collection import _build_files_manifest_walk

ROOT = Path(__file__).resolve().parents[2]


def galaxy() -> dict:
    return yaml.safe_load((ROOT / 'galaxy.yml').read_text())


def test_galaxy_version_is_a_release_in_the_changelog() -> None:
    version = galaxy()['version']
    releases = yaml.safe_load((ROOT / 'changelogs' / 'changelog.yaml').read_text())['releases'] or {}
    assert version in releases, (f'galaxy.yml says {version}, which changelogs/changelog.yaml has no release for: '
                                 f'run antsibull-changelog release (docs/releasing.md)')
    release = releases[version]
    assert release.get('release_date'), f'{version} has no release date'
    assert (release.get('changes') or {}).get('release_summary'), f'{version} has no release summary'


def test_changelog_rst_has_every_release() -> None:
    releases = yaml.safe_load((ROOT / 'changelogs' / 'changelog.yaml').read_text())['releases'] or {}
    text = (ROOT / 'CHANGELOG.rst').read_text()
    assert releases
    for version in releases:
        # antsibull-changelog's heading for a release: v<version> underlined with '='.
        assert re.search(rf'^v{re.escape(version)}\n=+$', text, re.MULTILINE), \
            f'CHANGELOG.rst has no section for {version}: regenerate it with antsibull-changelog'


def test_the_built_collection_ships_the_changelog() -> None:
    manifest = _build_files_manifest_walk(str(ROOT).encode(), 'shakenfist', 'storage', galaxy()['build_ignore'])
    shipped = {entry['name'] for entry in manifest['files']}
    for name in ('CHANGELOG.rst', 'changelogs/changelog.yaml', 'changelogs/config.yaml'):
        assert name in shipped, f'{name} is build_ignored in galaxy.yml'
    assert 'changelogs/.plugin-cache.yaml' not in shipped
