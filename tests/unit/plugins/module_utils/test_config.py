"""Connection settings come from the same sources, in the same order, as the official client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._config import resolve_settings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput


def write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_explicit_beats_environment_beats_files(tmp_path: Path) -> None:
    user = write(tmp_path / 'user.json', {'apiurl': 'http://file:13000', 'namespace': 'filens', 'key': 'filekey'})
    env = {'SHAKENFIST_API_URL': 'http://env:13000/', 'SHAKENFIST_NAMESPACE': 'envns'}
    found = resolve_settings({'namespace': 'explicit'}, environ=env, config_files=[user])
    assert found.api_url == 'http://env:13000'
    assert found.namespace == 'explicit'
    assert found.key == 'filekey'
    assert found.sources == {'api_url': 'SHAKENFIST_API_URL', 'namespace': 'task option', 'key': user}


def test_user_file_beats_system_file(tmp_path: Path) -> None:
    user = write(tmp_path / 'user.json', {'namespace': 'mine'})
    system = write(tmp_path / 'system.json', {'apiurl': 'https://sf/api', 'namespace': 'sys', 'key': 'k'})
    found = resolve_settings({}, environ={}, config_files=[user, system])
    assert (found.api_url, found.namespace, found.key) == ('https://sf/api', 'mine', 'k')


def test_missing_setting_names_every_place(tmp_path: Path) -> None:
    with pytest.raises(SfInvalidInput) as caught:
        resolve_settings({'api_url': 'http://x'}, environ={}, config_files=[str(tmp_path / 'none.json')])
    assert 'SHAKENFIST_NAMESPACE' in str(caught.value) and 'none.json' in str(caught.value)


def test_key_is_not_in_repr() -> None:
    found = resolve_settings({'api_url': 'http://x', 'namespace': 'n', 'key': 'sekrit'}, environ={}, config_files=[])
    assert 'sekrit' not in repr(found)


@pytest.mark.parametrize('options', [{'api_url': 'ftp://x'}, {'timeout': -1}, {'retries': -2}])
def test_bad_values_are_refused(options: dict) -> None:
    base = {'api_url': 'http://x', 'namespace': 'n', 'key': 'k'}
    with pytest.raises(SfInvalidInput):
        resolve_settings({**base, **options}, environ={}, config_files=[])


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / 'broken.json'
    broken.write_text('{not json')
    with pytest.raises(SfInvalidInput) as caught:
        resolve_settings({}, environ={}, config_files=[str(broken)])
    assert 'broken.json' in str(caught.value)


def test_a_ca_path_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    explicit = {'api_url': 'https://sf.example.com/api', 'namespace': 'ci', 'key': 'k', 'ca_path': str(tmp_path / 'x')}
    with pytest.raises(SfInvalidInput, match='ca_path .* does not exist'):
        resolve_settings(explicit, environ={}, config_files=[])
    bundle = tmp_path / 'ca.pem'
    bundle.write_text('-----BEGIN CERTIFICATE-----\n')
    assert resolve_settings({**explicit, 'ca_path': str(bundle)}, environ={}, config_files=[]).ca_path == str(bundle)


@pytest.mark.parametrize('timeout', [float('inf'), float('nan'), 0, -1])
def test_timeouts_must_be_positive_and_finite(timeout: float) -> None:
    explicit = {'api_url': 'https://sf.example.com/api', 'namespace': 'ci', 'key': 'k', 'timeout': timeout}
    with pytest.raises(SfInvalidInput, match='timeout'):
        resolve_settings(explicit, environ={}, config_files=[])
