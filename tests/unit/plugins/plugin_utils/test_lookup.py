"""Lookup client sharing: one client per templating pass and connection settings, never across settings, passes,
processes or the TTL, and no secret in anything the cache is keyed by or prints."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.release import __version__ as ansible_version
from ansible.template import Templar

from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.plugin_utils import _lookup
from ansible_collections.shakenfist.storage.plugins.plugin_utils._lookup import ClientCache, client_key
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import trust_as_template

ansible_version_info = tuple(int(part) for part in ansible_version.split('.')[:2])
# ansible-core 2.19 and newer let a lookup see the templating pass it runs in; 2.18 does not.
SEES_TEMPLATING_PASSES = ansible_version_info >= (2, 19)
KEYS = {'ci': 'ci-correct-horse-battery', 'qa': 'qa-staple-battery-horse'}
UUIDS = {'ci': '11111111-1111-4111-8111-111111111111', 'qa': '22222222-2222-4222-8222-222222222222'}
BLOBS = {'ci': 'aaaaaaaa-1111-4111-8111-111111111111', 'qa': 'bbbbbbbb-2222-4222-8222-222222222222'}


def handler(record: Any) -> tuple[int, Any, dict[str, str]]:
    """A tiny API: each namespace has a label `web` with one version; tokens name their namespace."""
    if record.path == '/auth':
        body = json.loads(record.body)
        if KEYS.get(body['namespace']) != body['key']:
            return 401, {'error': 'unauthorized', 'status': 401}, {}
        return 200, {'access_token': f'token-for-{body["namespace"]}-0123456789'}, {}
    namespace = record.headers.get('Authorization', '').split('-')[2]
    if record.path == '/artifacts':
        return 200, [{'uuid': UUIDS[namespace], 'state': 'created', 'artifact_type': 'label', 'namespace': namespace,
                      'source_url': f'sf://label/{namespace}/web', 'index': 1, 'blob_uuid': BLOBS[namespace],
                      'blobs': {'1': {'uuid': BLOBS[namespace], 'size': 5}}}], {}
    if record.path == f'/artifacts/{UUIDS[namespace]}/versions':
        return 200, [{'uuid': BLOBS[namespace], 'state': 'created', 'size': 5, 'sha512': 'a' * 128, 'index': 1}], {}
    return 404, {'error': 'not found', 'status': 404}, {}


def connection(url: str, namespace: str = 'ci', key: str | None = None) -> dict[str, Any]:
    return {'shakenfist_api_url': url, 'shakenfist_namespace': namespace, 'shakenfist_key': key or KEYS[namespace]}


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
    """Everything the lookup and its transport print at -vvvv."""
    lines: list[str] = []
    monkeypatch.setattr(_lookup.display, 'vvvv', lambda message, host=None: lines.append(message))
    return lines


def lookup(variables: dict[str, Any] | None, *terms: str, **kwargs: Any) -> list[Any]:
    """One lookup call as Ansible makes it: a new plugin instance each time."""
    plugin = lookup_loader.get('shakenfist.storage.sf_artifact')
    assert isinstance(plugin, _lookup.SfLookupBase)
    return list(plugin.run(list(terms), variables=variables, **kwargs))


def in_pass(monkeypatch: pytest.MonkeyPatch, engine: object) -> None:
    monkeypatch.setattr(_lookup, 'templating_pass', lambda: engine)


def auths(server: Any) -> list[str]:
    return [json.loads(r.body)['namespace'] for r in server.requests if r.path == '/auth']


def test_lookups_in_one_real_template_pass_share_one_client(server: Any) -> None:
    templar = Templar(loader=DataLoader(), variables=connection(server.url))
    text = trust_as_template("{{ lookup('shakenfist.storage.sf_artifact', 'label:web').blob_uuid }} "
                             "{{ query('shakenfist.storage.sf_artifact', 'label:web', 'sf://label/ci/web') | length }}")
    assert templar.template(text) == f'{BLOBS["ci"]} 2'
    # A label is looked for by name first; this tiny API answers 404, so the listing is read (ListingIndex).
    one_lookup = ['POST /auth', 'GET /artifacts/web', 'GET /artifacts', f'GET /artifacts/{UUIDS["ci"]}/versions']
    if not SEES_TEMPLATING_PASSES:  # ansible-core 2.18: each lookup call has its own client (docs/lookup.md)
        assert server.paths() == one_lookup * 2  # lookup() and query(): two calls, two clients
        return
    assert server.paths() == one_lookup
    # Ansible makes a new engine for every evaluation (args, when, each until attempt): nothing carries over.
    assert Templar(loader=DataLoader(), variables=connection(server.url)).template(text) == f'{BLOBS["ci"]} 2'
    assert auths(server) == ['ci', 'ci']


def test_one_pass_and_variables_share_token_listing_and_resolutions(server: Any, monkeypatch: Any) -> None:
    in_pass(monkeypatch, object())
    variables = connection(server.url)
    first = lookup(variables, 'label:web')
    both = lookup(variables, 'label:web', 'sf://label/ci/web')
    assert [r['input'] for r in both] == ['label:web', 'sf://label/ci/web']
    assert both[0] == first[0] and both[1]['blob_uuid'] == first[0]['blob_uuid']
    assert server.paths() == ['POST /auth', 'GET /artifacts/web', 'GET /artifacts',
                              f'GET /artifacts/{UUIDS["ci"]}/versions']


def test_a_new_pass_or_loop_item_gets_a_new_client(server: Any, monkeypatch: Any) -> None:
    variables = connection(server.url)
    in_pass(monkeypatch, object())
    lookup(variables, 'label:web')
    lookup(dict(variables), 'label:web')  # the next loop item: a new variables mapping
    in_pass(monkeypatch, object())  # an until retry or a later task: a new engine
    lookup(variables, 'label:web')
    assert auths(server) == ['ci', 'ci', 'ci']
    assert server.paths().count('GET /artifacts') == 3


def test_without_a_known_pass_nothing_is_shared(server: Any, monkeypatch: Any) -> None:
    in_pass(monkeypatch, None)
    variables = connection(server.url)
    lookup(variables, 'label:web')
    lookup(variables, 'label:web')
    assert auths(server) == ['ci', 'ci']
    assert _lookup.shared_clients.slots() == ()
    assert _lookup.templating_pass is not None


def test_outside_a_template_there_is_no_pass() -> None:
    assert _lookup.templating_pass() is None


def test_other_namespaces_and_keys_never_share_a_client(server: Any, monkeypatch: Any) -> None:
    in_pass(monkeypatch, object())
    variables = connection(server.url)
    ci = lookup(variables, 'label:web')[0]
    # Same pass, other namespace: its own token, its own listing, its own label.
    qa = lookup({**variables, **connection(server.url, 'qa')}, 'label:web')[0]
    assert (ci['namespace'], qa['namespace']) == ('ci', 'qa')
    assert qa['blob_uuid'] == BLOBS['qa'] != ci['blob_uuid']
    # Same namespace with a wrong key is refused, never served from the client the right key built.
    with pytest.raises(AnsibleLookupError, match='authentication as namespace .ci. failed'):
        lookup({**variables, 'shakenfist_key': 'not-the-right-key'}, 'label:web')
    assert auths(server) == ['ci', 'qa', 'ci']
    assert lookup(variables, 'label:web') == [ci]
    assert auths(server) == ['ci', 'qa', 'ci']


def test_every_connection_setting_is_part_of_the_key() -> None:
    base = ConnectionSettings(api_url='https://sf.example.com/api', namespace='ci', key=KEYS['ci'])
    changes: list[dict[str, Any]] = [
        {'api_url': 'https://other.example.com/api'}, {'namespace': 'qa'}, {'key': KEYS['qa']},
        {'validate_certs': False}, {'ca_path': '/etc/ssl/sf.pem'}, {'timeout': 5.0}, {'retries': 0},
    ]
    keys = {client_key(base)} | {client_key(dataclasses.replace(base, **change)) for change in changes}
    keys.add(client_key(base, 'https://mirror.example.com/images'))
    assert len(keys) == len(changes) + 2
    # Where a setting came from does not matter; the default image base URL is the same as none.
    assert client_key(dataclasses.replace(base, sources={'key': 'SHAKENFIST_KEY'})) == client_key(base)
    assert client_key(base, None) == client_key(base, _lookup.DEFAULT_IMAGE_BASE_URL)


def test_no_secret_in_cache_keys_or_anything_printed(server: Any, monkeypatch: Any, logged: list[str]) -> None:
    in_pass(monkeypatch, object())
    lookup(connection(server.url), 'label:web')
    lookup(connection(server.url, 'qa'), 'label:web')
    with pytest.raises(AnsibleLookupError) as failed:
        lookup(connection(server.url, 'ci', 'wrong-key-0123456789'), 'label:web')
    keys = _lookup.shared_clients.slots()
    assert len({key[0] for key in keys}) == 3 and all(key[0].startswith('sf-client-') for key in keys)
    printed = '\n'.join([repr(keys), *logged, str(failed.value)])
    assert any(key[0] in printed for key in keys)
    for secret in [*KEYS.values(), 'wrong-key-0123456789', 'token-for-ci-0123456789']:
        assert secret not in printed
        # Salted: the key cannot be matched against a plain hash of a guessed secret either.
        assert hashlib.sha256(secret.encode()).hexdigest()[:24] not in printed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cache_drops_entries_after_the_ttl_and_in_forked_children() -> None:
    clock, pid = Clock(), {'value': 10}
    cache = ClientCache(ttl=10.0, clock=clock, getpid=lambda: pid['value'])
    built: list[Any] = []

    def build() -> Any:
        built.append(object())
        return built[-1]

    owners: tuple[object, dict[str, Any]] = (object(), {})
    assert cache.get('k', owners, build) == (built[0], False)
    clock.now += 9.9
    assert cache.get('k', owners, build) == (built[0], True)
    clock.now += 0.2  # past the TTL
    assert cache.get('k', owners, build) == (built[1], False)
    pid['value'] = 11  # a worker forked with a copy of the cache
    assert cache.get('k', owners, build) == (built[2], False)
    assert [key[1] for key in cache.slots()] == [11]


def test_cache_compares_owners_by_identity_and_stays_small() -> None:
    cache = ClientCache(size=2)
    engine, variables = object(), {'a': 1}
    first = cache.get('k', (engine, variables), object)[0]
    assert cache.get('k', (engine, variables), object) == (first, True)
    assert cache.get('k', (engine, {'a': 1}), object)[1] is False  # equal is not the same pass
    assert cache.get('k', (None, variables), object)[1] is False
    assert cache.get('other', (engine, variables), object)[1] is False
    assert len(cache.slots()) == 2


def test_anything_unexpected_in_a_lookup_is_a_clean_lookup_error(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver

    def crash(self: Any, text: str, **kwargs: Any) -> Any:
        raise KeyError(f'surprise ({KEYS["ci"]})')

    monkeypatch.setattr(Resolver, 'resolve', crash)
    with pytest.raises(AnsibleLookupError) as caught:
        lookup(connection(server.url), 'label:web')
    message = str(caught.value)
    assert message.startswith("resolve 'label:web' failed: unexpected KeyError") and 'bug' in message
    assert KEYS['ci'] not in message and 'Traceback' not in message


def test_settings_missing_everywhere_are_a_clean_lookup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr('ansible_collections.shakenfist.storage.plugins.module_utils._config.USER_CONFIG',
                        '/nonexistent/.shakenfist')
    monkeypatch.setattr('ansible_collections.shakenfist.storage.plugins.module_utils._config.SYSTEM_CONFIG',
                        '/nonexistent/shakenfist.json')
    with pytest.raises(AnsibleLookupError, match='no Shaken Fist api_url given'):
        lookup({}, 'label:web')


def test_number_and_boolean_settings_may_be_templates(server: Any) -> None:
    # Variables reach lookups unrendered: shakenfist_timeout: "{{ my_timeout }}" must work, not fail a type check.
    variables = {**connection(server.url), 'my_timeout': 7, 'my_retries': '2', 'my_verify': 'yes',
                 'shakenfist_timeout': trust_as_template('{{ my_timeout }}'),
                 'shakenfist_retries': trust_as_template('{{ my_retries }}'),
                 'shakenfist_validate_certs': trust_as_template('{{ my_verify }}')}
    templar = Templar(loader=DataLoader(), variables=variables)
    text = trust_as_template("{{ lookup('shakenfist.storage.sf_artifact', 'label:web').blob_uuid }}")
    assert templar.template(text) == BLOBS['ci']
    with pytest.raises(AnsibleLookupError, match='timeout must be a number of seconds'):
        lookup({**connection(server.url), 'shakenfist_timeout': 'soon'}, 'label:web')
