"""Namespaces, keys and trusts under /auth/namespaces."""

from __future__ import annotations

import time

import pytest
import requests
from sfe_helpers import Api, make_namespace, unique


def _auth(url: str, namespace: str, key: str) -> int:
    return requests.post(url + '/auth', json={'namespace': namespace, 'key': key}).status_code


@pytest.mark.server_profile('latest')  # namespace view version 7
def test_create_view_and_errors(system: Api) -> None:
    name = unique('ns')
    view = system.ok('POST', '/auth/namespaces', {'namespace': name})
    assert view == {'name': name, 'state': 'created', 'metadata': {}, 'version': 7, 'keys': [],
                    'trust': {'full': ['system']}}
    assert system.error('POST', '/auth/namespaces', {'namespace': name}) == (403, 'namespace exists')
    assert system.error('POST', '/auth/namespaces', {}) == (400, 'no namespace specified')
    assert system.error('POST', '/auth/namespaces', {'namespace': unique('n'), 'key_name': 'k'}) == (
        400, 'no key specified')
    assert system.error('POST', '/auth/namespaces', {'namespace': unique('n'), 'key_name': 'service_key',
                                                     'key': 'x'}) == (403, 'illegal key name')
    bad = unique('n')
    assert system.error('POST', '/auth/namespaces', {'namespace': bad, 'key_name': 'k', 'key': 'x' * 73})[0] == 422
    assert system.error('GET', f'/auth/namespaces/{bad}') == (404, 'namespace not found')  # nothing left behind
    assert name in [n['name'] for n in system.ok('GET', '/auth/namespaces')]


@pytest.mark.server_profile('latest')  # generated keys, expiry
def test_keys_add_generate_replace_delete(system: Api) -> None:
    ns = make_namespace(system, 'keys')
    url = system.url
    assert system.ok('POST', f'/auth/namespaces/{ns.namespace}/keys', {'key_name': 'ci', 'key': 's3cret'}) == 'ci'
    assert _auth(url, ns.namespace, 's3cret') == 200
    generated = system.ok('POST', f'/auth/namespaces/{ns.namespace}/keys', {'key_name': 'gen'})
    assert generated['key_name'] == 'gen' and generated['key'].startswith('sfk_') and len(generated['key']) <= 72
    assert _auth(url, ns.namespace, generated['key']) == 200
    assert system.ok('GET', f'/auth/namespaces/{ns.namespace}/keys') == ['ci', 'gen', 'main']
    assert system.ok('PUT', f'/auth/namespaces/{ns.namespace}/keys/ci', {'key': 'new-one'}) == 'ci'
    assert _auth(url, ns.namespace, 's3cret') == 401 and _auth(url, ns.namespace, 'new-one') == 200
    assert system.error('PUT', f'/auth/namespaces/{ns.namespace}/keys/nope', {'key': 'x'}) == (
        404, 'key does not exist')
    assert ns.error('PUT', f'/auth/namespaces/{ns.namespace}/keys/ci', {'key': 'x'}) == (401, 'unauthorized')
    assert system.error('POST', f'/auth/namespaces/{ns.namespace}/keys', {'key_name': 'x', 'key': 'sfk_abc'})[0] == 400
    assert system.error('POST', f'/auth/namespaces/{ns.namespace}/keys',
                        {'key_name': '_service_key_1', 'key': 'a'}) == (403, 'illegal key name')
    assert system.error('POST', f'/auth/namespaces/{ns.namespace}/keys',
                        {'key_name': 'old', 'key': 'a', 'expiry': time.time() - 5}) == (
        400, 'expiry must be in the future')
    assert ns.ok('DELETE', f'/auth/namespaces/{ns.namespace}/keys/ci') is None  # own namespace may manage keys
    assert system.error('DELETE', f'/auth/namespaces/{ns.namespace}/keys/ci') == (
        404, 'key name not found in namespace')


@pytest.mark.server_profile('latest')  # key expiry
def test_key_expiry(system: Api) -> None:
    ns = make_namespace(system, 'exp')
    system.ok('POST', f'/auth/namespaces/{ns.namespace}/keys', {'key_name': 'short', 'key': 'brief',
                                                               'expiry': time.time() + 1.5})
    assert _auth(system.url, ns.namespace, 'brief') == 200
    time.sleep(2)
    assert _auth(system.url, ns.namespace, 'brief') == 401


def test_trust_rules(system: Api) -> None:
    a, b = make_namespace(system, 'tr-a'), make_namespace(system, 'tr-b')
    assert a.error('GET', f'/auth/namespaces/{b.namespace}') == (404, 'namespace not found')
    assert a.error('GET', f'/auth/namespaces/{b.namespace}/keys') == (404, 'namespace not found')
    view = b.ok('POST', f'/auth/namespaces/{b.namespace}/trust', {'external_namespace': a.namespace})
    assert view['trust']['full'] == ['system', a.namespace]
    assert a.ok('GET', f'/auth/namespaces/{b.namespace}')['name'] == b.namespace
    assert b.namespace in [n['name'] for n in a.ok('GET', '/auth/namespaces')]
    assert a.namespace not in [n['name'] for n in b.ok('GET', '/auth/namespaces')]
    assert b.ok('DELETE', f'/auth/namespaces/{b.namespace}/trust/system')['trust']['full'][0] == 'system'
    assert b.ok('DELETE', f'/auth/namespaces/{b.namespace}/trust/{a.namespace}')['trust']['full'] == ['system']
    assert a.error('GET', f'/auth/namespaces/{b.namespace}')[0] == 404
    assert b.error('POST', f'/auth/namespaces/{b.namespace}/trust', {})[0] == 400


def test_namespace_metadata(system: Api) -> None:
    ns = make_namespace(system, 'meta')
    path = f'/auth/namespaces/{ns.namespace}/metadata'
    assert ns.ok('POST', path, {'key': 'owner', 'value': 'team'}) is None
    assert ns.ok('PUT', path + '/tier', {'value': 2}) is None
    assert ns.ok('GET', path) == {'owner': 'team', 'tier': 2}
    assert ns.ok('DELETE', path + '/owner') is None
    assert system.ok('GET', f'/auth/namespaces/{ns.namespace}')['metadata'] == {'tier': 2}


def test_delete_namespace(system: Api) -> None:
    ns = make_namespace(system, 'gone')
    own = ns.upload_bytes(unique('own'), b'o')
    shared = system.upload_bytes(unique('shared'), b's')
    system.ok('POST', f'/artifacts/{shared["uuid"]}/share')
    ns.login()
    assert ns.error('DELETE', f'/auth/namespaces/{ns.namespace}') == (401, 'unauthorized')
    assert system.error('DELETE', '/auth/namespaces/system') == (403, 'you cannot delete the system namespace')
    assert system.ok('DELETE', f'/auth/namespaces/{ns.namespace}') is None
    assert system.ok('GET', f'/artifacts/{own["uuid"]}')['state'] == 'deleted'
    assert system.ok('GET', f'/artifacts/{shared["uuid"]}')['state'] == 'created'
    assert ns.call('GET', '/artifacts').status_code == 401  # its tokens die
    assert _auth(system.url, ns.namespace, ns.key) == 404
    assert system.error('GET', f'/auth/namespaces/{ns.namespace}') == (404, 'namespace not found')
    assert system.error('DELETE', f'/auth/namespaces/{ns.namespace}') == (404, 'namespace not found')
    assert ns.namespace not in [n['name'] for n in system.ok('GET', '/auth/namespaces')]


def test_tenant_cannot_create_in_untrusting_namespace(system: Api) -> None:
    a = make_namespace(system, 'np')
    assert a.error('POST', '/artifacts', {'url': 'http://127.0.0.1:1/x', 'namespace': 'system'}) == (
        404, 'namespace not found')
    assert isinstance(Api(system.url, a.namespace, a.key).ok('GET', '/auth/namespaces'), list)
