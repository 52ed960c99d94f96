"""Modules read the same SHAKENFIST_* variables as the lookup, so an AWX credential (extensions/awx) that sets them
configures both: the CA file and certificate checking as well as the URL, namespace and key."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import patch_module_args


class Shows(SfModule):
    def run(self) -> None:
        pass


def run(**args: Any) -> dict[str, Any]:
    with patch_module_args(args):
        params = Shows().params
    return {'validate_certs': params['validate_certs'], 'ca_path': params['ca_path']}


def test_ca_path_and_validate_certs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SHAKENFIST_CA_PATH', '/run/awx/ca.pem')
    monkeypatch.setenv('SHAKENFIST_VALIDATE_CERTS', 'false')
    assert run() == {'validate_certs': False, 'ca_path': '/run/awx/ca.pem'}


def test_task_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SHAKENFIST_CA_PATH', '/run/awx/ca.pem')
    monkeypatch.setenv('SHAKENFIST_VALIDATE_CERTS', 'false')
    assert run(validate_certs=True, ca_path='/etc/ca.pem') == {'validate_certs': True, 'ca_path': '/etc/ca.pem'}


def test_without_the_environment_certificates_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('SHAKENFIST_CA_PATH', raising=False)
    monkeypatch.delenv('SHAKENFIST_VALIDATE_CERTS', raising=False)
    assert run() == {'validate_certs': True, 'ca_path': None}
