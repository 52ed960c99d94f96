"""Transport behaviour against a real local HTTP server: auth, re-auth, retries, error mapping, secrets."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport, build_path

SECRET = 'correct-horse-battery-staple'
TOKEN = 'token-abcdef-123456'


def settings(url: str, retries: int = 3) -> ConnectionSettings:
    return ConnectionSettings(api_url=url, namespace='ci', key=SECRET, retries=retries, timeout=5)


def transport(url: str, **kwargs: Any) -> SfTransport:
    return SfTransport(settings(url, **{k: v for k, v in kwargs.items() if k == 'retries'}),
                       sleep=lambda _: None, read_only=kwargs.get('read_only', False))


def auth_ok(record: Any) -> tuple[int, Any, dict[str, str]] | None:
    if record.path == '/auth':
        assert json.loads(record.body) == {'namespace': 'ci', 'key': SECRET}
        return 200, {'access_token': TOKEN, 'token_type': 'Bearer', 'expires_in': 900}, {}
    return None


def test_build_path_quotes_every_segment() -> None:
    assert build_path('/artifacts/{}/versions/{}', 'a b/../c', 3) == '/artifacts/a%20b%2F..%2Fc/versions/3'
    assert build_path('/label/{}/{}', 'system', 'centos:7') == '/label/system/centos%3A7'
    with pytest.raises(ValueError):
        build_path('/artifacts/{}', 'a', 'b')


def test_authenticates_once_and_sends_bearer(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (200, [], {'X-Request-ID': 'r1'}))
    client = transport(server.url)
    assert client.request('GET', '/artifacts') == []
    assert client.request('GET', '/artifacts') == []
    assert server.paths() == ['POST /auth', 'GET /artifacts', 'GET /artifacts']
    assert server.requests[1].headers['Authorization'] == f'Bearer {TOKEN}'


def test_reauthenticates_once_on_401(scripted_server: Any) -> None:
    calls = {'n': 0}

    def handler(record: Any) -> Any:
        if record.path == '/auth':
            return auth_ok(record)
        calls['n'] += 1
        return (401, {'error': 'unauthorized', 'status': 401}, {}) if calls['n'] == 1 else (200, {'ok': 1}, {})

    server = scripted_server(handler)
    assert transport(server.url).request('GET', '/artifacts/x') == {'ok': 1}
    assert server.paths() == ['POST /auth', 'GET /artifacts/x', 'POST /auth', 'GET /artifacts/x']


def test_second_401_is_unauthenticated(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (401, {'error': 'unauthorized', 'status': 401}, {}))
    with pytest.raises(errors.SfUnauthenticated):
        transport(server.url).request('GET', '/blobs')
    assert server.paths().count('POST /auth') == 2


def test_bad_key_is_unauthenticated_without_the_key_in_the_message(scripted_server: Any) -> None:
    server = scripted_server(lambda r: (401, {'error': 'unauthorized', 'status': 401}, {}))
    with pytest.raises(errors.SfUnauthenticated) as caught:
        transport(server.url).request('GET', '/artifacts')
    assert SECRET not in str(caught.value) and SECRET not in json.dumps(caught.value.to_dict())
    assert caught.value.hint


def test_retries_get_on_503_then_succeeds(scripted_server: Any) -> None:
    answers: Iterator[Any] = iter(
        [(503, {'error': 'database unavailable, please retry', 'status': 503}, {})] * 2 + [(200, [1], {})])
    server = scripted_server(lambda r: auth_ok(r) or next(answers))
    assert transport(server.url).request('GET', '/artifacts') == [1]
    assert server.paths().count('GET /artifacts') == 3


def test_gives_up_after_retries(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (502, b'<html><title>Bad Gateway</title></html>', {}))
    with pytest.raises(errors.SfServerError) as caught:
        transport(server.url, retries=2).request('GET', '/artifacts')
    assert server.paths().count('GET /artifacts') == 3
    assert 'Bad Gateway' in str(caught.value) and '<html>' not in str(caught.value)
    assert caught.value.status == 502


def test_non_idempotent_post_is_not_retried_blindly(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (503, {'error': 'peer did not answer', 'status': 503}, {}))
    with pytest.raises(errors.SfServerError):
        transport(server.url).request('POST', '/upload')
    assert server.paths().count('POST /upload') == 1


def test_idempotent_post_is_retried(scripted_server: Any) -> None:
    answers: Iterator[Any] = iter([(504, {'error': 'timeout', 'status': 504}, {}), (200, {'uuid': 'u'}, {})])
    server = scripted_server(lambda r: auth_ok(r) or next(answers))
    assert transport(server.url).request('POST', '/label/{}/{}', 'ns', 'l', idempotent=True) == {'uuid': 'u'}


def test_406_is_retried_until_ready(scripted_server: Any) -> None:
    answers: Iterator[Any] = iter(
        [(406, {'error': 'instance x is not ready (creating)', 'status': 406}, {})] * 3 + [(200, {}, {})])
    server = scripted_server(lambda r: auth_ok(r) or next(answers))
    assert transport(server.url).request('POST', '/instances/{}/snapshot', 'x') == {}
    assert server.paths().count('POST /instances/x/snapshot') == 4


@pytest.mark.parametrize(('status', 'cls'), [(400, errors.SfInvalidInput), (403, errors.SfForbidden),
                                             (404, errors.SfNotFound), (409, errors.SfConflict),
                                             (500, errors.SfServerError)])
def test_status_maps_to_typed_error_with_context(scripted_server: Any, status: int, cls: type[errors.SfError]) -> None:
    body = {'error': 'artifact not found', 'status': status}
    server = scripted_server(lambda r: auth_ok(r) or (status, body, {'X-Request-ID': 'req-42'}))
    with pytest.raises(cls) as caught:
        transport(server.url, retries=0).request('GET', '/artifacts/{}', 'a b')
    error = caught.value.to_dict()
    assert error['status'] == status and error['method'] == 'GET' and error['path'] == '/artifacts/a%20b'
    assert error['request_id'] == 'req-42'
    assert 'artifact not found' in str(caught.value)


def test_traceback_body_becomes_a_clean_message(scripted_server: Any) -> None:
    page = b'Traceback (most recent call last):\n  File "x.py", line 1\nIndexError: tuple index out of range'
    server = scripted_server(lambda r: auth_ok(r) or (500, page, {'Content-Type': 'text/plain'}))
    with pytest.raises(errors.SfServerError) as caught:
        transport(server.url, retries=0).request('GET', '/label/{}', 'web')
    assert 'Traceback' not in str(caught.value) and 'internal error' in str(caught.value)


def test_server_echoing_the_key_is_redacted(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (400, {'error': f'bad key {SECRET} and {TOKEN}', 'status': 400},
                                                      {}))
    with pytest.raises(errors.SfInvalidInput) as caught:
        transport(server.url).request('GET', '/x')
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


def test_check_mode_refuses_writes_before_sending(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (200, None, {}))
    client = transport(server.url, read_only=True)
    with pytest.raises(errors.SfCheckModeWrite):
        client.request('DELETE', '/artifacts/{}', 'x')
    client.request('GET', '/artifacts')
    assert server.paths() == ['POST /auth', 'GET /artifacts']


def test_connection_refused_is_a_transport_error() -> None:
    with pytest.raises(errors.SfTransportError) as caught:
        transport('http://127.0.0.1:9', retries=1).request('GET', '/artifacts')
    assert 'refused' in str(caught.value)


def test_capabilities_read_once_without_auth(scripted_server: Any) -> None:
    page = b'<html><ul><li>blob-search-by-hash</li><li>artifact-upload-types</li></ul></html>'
    server = scripted_server(lambda r: (200, page, {}))
    client = transport(server.url)
    assert 'blob-search-by-hash' in client.capabilities()
    assert 'network-delete-async' not in client.capabilities()
    assert server.paths() == ['GET /']


def test_a_read_that_times_out_is_retried(scripted_server: Any) -> None:
    import time as clock

    calls = {'n': 0}

    def handler(record: Any) -> Any:
        if record.path == '/auth':
            return auth_ok(record)
        calls['n'] += 1
        if calls['n'] == 1:
            clock.sleep(1.5)  # past the client's timeout
        return 200, [1], {}

    server = scripted_server(handler)
    client = SfTransport(ConnectionSettings(api_url=server.url, namespace='ci', key=SECRET, retries=2, timeout=0.5),
                         sleep=lambda _: None)
    assert client.request('GET', '/artifacts') == [1]
    assert calls['n'] == 2


def test_a_write_that_times_out_is_not_repeated_blindly(scripted_server: Any) -> None:
    import time as clock

    def handler(record: Any) -> Any:
        if record.path == '/auth':
            return auth_ok(record)
        clock.sleep(1.5)
        return 200, {'uuid': 'u'}, {}

    server = scripted_server(handler)
    client = SfTransport(ConnectionSettings(api_url=server.url, namespace='ci', key=SECRET, retries=2, timeout=0.5),
                         sleep=lambda _: None)
    with pytest.raises(errors.SfTimeout) as caught:
        client.request('POST', '/artifacts/upload/{}', 'web', json={})
    assert errors.outcome_unknown(caught.value)
    assert server.paths().count('POST /artifacts/upload/web') == 1


def test_auth_is_retried_after_a_503_and_a_reset(scripted_server: Any) -> None:
    answers: Iterator[Any] = iter([(503, {'error': 'database unavailable, please retry', 'status': 503}, {})])

    def handler(record: Any) -> Any:
        if record.path == '/auth':
            return next(answers, None) or auth_ok(record)
        return 200, [], {}

    server = scripted_server(handler)
    assert transport(server.url).request('GET', '/artifacts') == []
    assert server.paths() == ['POST /auth', 'POST /auth', 'GET /artifacts']


def test_which_failures_leave_a_write_unknown() -> None:
    assert errors.outcome_unknown(errors.SfTimeout('no answer'))
    assert errors.outcome_unknown(errors.SfTransportError('reset'))
    assert not errors.outcome_unknown(errors.SfTransportError('refused', detail={'before_send': True}))
    assert errors.outcome_unknown(errors.SfServerError('boom', status=500))
    assert errors.outcome_unknown(errors.SfServerError('unreadable answer', status=200))
    assert not errors.outcome_unknown(errors.SfNotFound('gone', status=404))
    assert not errors.outcome_unknown(errors.SfInvalidInput('bad', status=400))


def test_an_idempotent_write_is_repeated_after_a_500_but_a_read_is_not(scripted_server: Any) -> None:
    answers: Iterator[Any] = iter([(500, {'error': 'server error: OSError()', 'status': 500}, {}), (200, None, {})])
    server = scripted_server(lambda r: auth_ok(r) or next(answers))
    transport(server.url).request('PUT', '/artifacts/{}/metadata/{}', 'a', 'k', json={'value': 1})
    assert server.paths().count('PUT /artifacts/a/metadata/k') == 2
    reads = scripted_server(lambda r: auth_ok(r) or (500, {'error': 'server error: IndexError()', 'status': 500}, {}))
    with pytest.raises(errors.SfServerError):
        transport(reads.url).request('GET', '/label/{}', 'web')
    assert reads.paths().count('GET /label/web') == 1


@pytest.mark.parametrize('key', ['quote"in-the-key-0123456789', 'clé-ключ-鍵-0123456789'])
def test_a_server_echoing_the_auth_body_leaks_no_form_of_the_key(scripted_server: Any, key: str) -> None:
    """The key goes out JSON-escaped (a `"`, non-ASCII); a server that echoes the raw body, or a cut of it, in its
    error must not show it in any form (issue 18, point 4)."""
    sent: list[str] = []

    def echo(record: Any) -> tuple[int, Any, dict[str, str]]:
        if record.path == '/auth':
            sent.append(record.body.decode('ascii'))  # as sent: JSON with \\" and \\uXXXX escapes
            return 200, {'access_token': TOKEN, 'token_type': 'Bearer', 'expires_in': 900}, {}
        return 400, {'error': f'bad request after {sent[0]} (or {sent[0][:-6]})', 'status': 400}, {}

    server = scripted_server(echo)
    client = SfTransport(ConnectionSettings(api_url=server.url, namespace='ci', key=key, retries=0, timeout=5),
                         sleep=lambda _: None)
    with pytest.raises(errors.SfInvalidInput) as caught:
        client.request('GET', '/artifacts')
    shown = str(caught.value)
    escaped = json.dumps(key)[1:-1]
    assert escaped in sent[0] and '"namespace": "ci"' in shown, shown
    assert not any(escaped[i:i + 8] in shown for i in range(len(escaped) - 7)), shown
