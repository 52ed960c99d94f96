"""The sf_artifact lookup refuses options it does not know, naming the valid ones and the one meant, before anything is
resolved; and shares clients through its one use of a private ansible-core API (the templating pass) only when
that is there, falling back cleanly when it is missing.

Runs on ansible-core 2.18 and 2.19."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

from ansible_collections.shakenfist.storage.plugins.plugin_utils import _lookup, _template_pass
from ansible_collections.shakenfist.storage.plugins.plugin_utils._names import closest, unknown_names
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import trust_as_template
from ansible_collections.shakenfist.storage.tests.unit.plugins.plugin_utils.template_context import (
    context_of,
    private_module,
)

KEY = 'ci-correct-horse-battery'
UUID = '11111111-1111-4111-8111-111111111111'
BLOBS = ['aaaaaaaa-1111-4111-8111-111111111111', 'bbbbbbbb-1111-4111-8111-111111111111']
SHA512 = ['a' * 128, 'b' * 128]
OPTIONS = ('api_url, ca_path, image_base_url, key, namespace, on_missing, prefer, retries, sha512, timeout, '
           'validate_certs, version')


def handler(record: Any) -> tuple[int, Any, dict[str, str]]:
    """One namespace `ci` with a label `web` of two versions."""
    if record.path == '/auth':
        if json.loads(record.body) != {'namespace': 'ci', 'key': KEY}:
            return 401, {'error': 'unauthorized', 'status': 401}, {}
        return 200, {'access_token': 'token-for-ci-0123456789'}, {}
    if record.path == '/artifacts':
        return 200, [{'uuid': UUID, 'state': 'created', 'artifact_type': 'label', 'namespace': 'ci',
                      'source_url': 'sf://label/ci/web', 'index': 2, 'blob_uuid': BLOBS[1],
                      'blobs': {'1': {'uuid': BLOBS[0], 'size': 5}, '2': {'uuid': BLOBS[1], 'size': 5}}}], {}
    if record.path == f'/artifacts/{UUID}/versions':
        return 200, [{'uuid': BLOBS[i], 'state': 'created', 'size': 5, 'sha512': SHA512[i], 'index': i + 1}
                     for i in range(2)], {}
    return 404, {'error': 'not found', 'status': 404}, {}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    _lookup.shared_clients.clear()
    yield
    _lookup.shared_clients.clear()


@pytest.fixture
def server(scripted_server: Any) -> Any:
    return scripted_server(handler)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(_lookup.display, 'vvvv', lambda message, host=None: lines.append(message))
    return lines


def variables(server: Any) -> dict[str, Any]:
    return {'shakenfist_api_url': server.url, 'shakenfist_namespace': 'ci', 'shakenfist_key': KEY}


def lookup(server: Any, *terms: str, **kwargs: Any) -> list[Any]:
    plugin = lookup_loader.get('shakenfist.storage.sf_artifact')
    assert isinstance(plugin, _lookup.SfLookupBase)
    return list(plugin.run(list(terms), variables=variables(server), **kwargs))


# Unknown options


def test_a_misspelled_option_is_refused_with_the_one_meant_and_nothing_is_sent(server: Any) -> None:
    with pytest.raises(AnsibleLookupError) as refused:
        lookup(server, 'label:web', versoin=1)
    assert str(refused.value) == (f"unknown option 'versoin' (did you mean 'version'?); "
                                  f'the options of shakenfist.storage.sf_artifact are {OPTIONS}')
    assert server.requests == []  # refused before any authentication or listing


def test_every_unknown_option_is_named_and_values_are_never_shown(server: Any) -> None:
    with pytest.raises(AnsibleLookupError) as refused:
        lookup(server, 'label:web', kye='do-not-print-this-key', prefr=['system'], colour='blue', version=1)
    message = str(refused.value)
    assert message.startswith("unknown options 'colour', 'kye' (did you mean 'key'?), "
                              "'prefr' (did you mean 'prefer'?); ")
    assert message.endswith(OPTIONS) and 'do-not-print-this-key' not in message and 'Traceback' not in message
    assert server.requests == []


def test_the_refusal_is_what_a_template_shows(server: Any) -> None:
    """As a playbook sees it, on ansible-core 2.18 and 2.19 alike."""
    templar = Templar(loader=DataLoader(), variables=variables(server))
    with pytest.raises(AnsibleError) as refused:
        templar.template(trust_as_template("{{ lookup('shakenfist.storage.sf_artifact', 'label:web', versoin=1) }}"))
    shown = f'{refused.value} {refused.value.__cause__ or ""}'
    assert "unknown option 'versoin' (did you mean 'version'?)" in shown
    assert server.requests == []


def test_valid_options_still_work(server: Any) -> None:
    assert lookup(server, 'label:web')[0]['version'] == 2
    assert lookup(server, 'label:web', version=1)[0]['blob_uuid'] == BLOBS[0]
    assert lookup(server, 'label:web', sha512=SHA512[0])[0]['version'] == 1
    assert lookup(server, 'label:web', version='latest', prefer=['namespace'], on_missing='error')[0]['version'] == 2
    assert lookup(server, 'label:nothing', on_missing='skip') == []
    assert lookup(server, 'label:web', api_url=server.url, namespace='ci', key=KEY, timeout=5, retries=0,
                  validate_certs=True)[0]['version'] == 2


def test_names_helper() -> None:
    assert closest('versoin', ['version', 'sha512']) == 'version'
    assert closest('colour', ['version', 'sha512']) is None
    assert unknown_names(['b', 'versoin', 'version', 'x_plan'], ['version'], internal=['x_plan']) == [
        'b', 'versoin (did you mean version?)']
    # Internal names are accepted, never suggested.
    assert unknown_names(['x_plam'], ['version'], internal=['x_plan']) == ['x_plam']
    assert unknown_names(['versoin'], ['version'], quote=True) == ["'versoin' (did you mean 'version'?)"]


# The templating pass (the adapter itself: test_template_pass.py): lookups share a client only when it is found


def test_with_the_private_context_present_a_pass_is_found_and_shared(server: Any, monkeypatch: pytest.MonkeyPatch,
                                                                     logged: list[str]) -> None:
    engine = object()
    private_module(monkeypatch, context_of(engine))
    assert _lookup.templating_pass() is engine
    shared = variables(server)
    plugin = lookup_loader.get('shakenfist.storage.sf_artifact')
    plugin.run(['label:web'], variables=shared)
    lookup_loader.get('shakenfist.storage.sf_artifact').run(['label:web'], variables=shared)
    assert [r.path for r in server.requests].count('/auth') == 1
    assert not any('share no client' in line for line in logged)


def test_with_the_private_context_missing_nothing_is_shared_and_vvvv_says_why(
        server: Any, monkeypatch: pytest.MonkeyPatch, logged: list[str]) -> None:
    monkeypatch.setitem(sys.modules, _template_pass.TEMPLATE_CONTEXT_MODULE, None)  # the import fails, as on 2.18
    assert _lookup.templating_pass() is None
    first = lookup(server, 'label:web')
    assert lookup(server, 'label:web') == first
    assert [r.path for r in server.requests].count('/auth') == 2  # each call its own client, never a stale one
    assert _lookup.shared_clients.slots() == ()
    assert ('shakenfist.storage: lookups share no client: this ansible-core has no '
            'ansible._internal._templating._utils.TemplateContext.current; each call builds its own') in logged
