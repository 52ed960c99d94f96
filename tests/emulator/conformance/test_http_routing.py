"""Conformance: how paths are decoded and routed, and what answers when no API handler runs.

Raw HTTP through http.client, so every `%XX`, `+` and `//` reaches the server exactly as written here (requests
would re-quote some of them). The same assertions hold for the emulator and for the real 0.7.2 server
(SF_TEST_BACKEND=real); the few places where 0.7.2 differs from the newest server say so.
"""

from __future__ import annotations

import http.client
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

NOT_FOUND_HTML = (
    b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
    b'<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling'
    b' and try again.</p>\n'
)
METHOD_NOT_ALLOWED = b'{"message": "The method is not allowed for the requested URL."}\n'
GUNICORN_500_HTML = (
    b'<html>\n  <head>\n    <title>Internal Server Error</title>\n  </head>\n  <body>\n'
    b'    <h1><p>Internal Server Error</p></h1>\n    \n  </body>\n</html>\n'
)
HTML = 'text/html; charset=utf-8'


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get('Content-Type')

    def json(self) -> Any:
        return json.loads(self.body)

    def allow(self) -> set[str]:
        return {method.strip() for method in self.headers.get('Allow', '').split(',') if method.strip()}


class Raw:
    """Sends request targets byte for byte; authenticates as system unless told not to."""

    def __init__(self, url: str, key: str) -> None:
        split = urlsplit(url)
        self.host, self.port = split.hostname or '127.0.0.1', split.port or 80
        self.token = self.send('POST', '/auth', {'namespace': 'system', 'key': key}, auth=False).json()['access_token']

    def send(self, method: str, target: str, body: Any = None, *, auth: bool = True) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            data = b'' if body is None else json.dumps(body).encode()
            if auth:
                connection.putheader('Authorization', f'Bearer {self.token}')
            if body is not None:
                connection.putheader('Content-Type', 'application/json')
            connection.putheader('Content-Length', str(len(data)))
            connection.endheaders(data)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def append(self, upload: str, data: bytes) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            headers = {'Authorization': f'Bearer {self.token}'}
            connection.request('POST', f'/upload/{upload}', body=data, headers=headers)
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, str(len(data)).encode() + b'\n')
        finally:
            connection.close()

    def ok(self, method: str, target: str, body: Any = None) -> Any:
        answer = self.send(method, target, body)
        assert answer.status == 200, (method, target, answer.status, answer.body)
        return answer.json()


def _unique(prefix: str) -> str:
    return f'{prefix}-{secrets.token_hex(4)}'


@pytest.fixture(scope='module')
def raw(sf_server: Any) -> Raw:
    return Raw(sf_server.url, sf_server.system_key)


@pytest.fixture(scope='module')
def artifact(raw: Raw) -> dict[str, Any]:
    """An artifact uploaded as `<prefix>%3Av1`: its name arrives decoded, `<prefix>:v1`."""
    upload = raw.ok('POST', '/upload')['uuid']
    raw.append(upload, b'routing ' + secrets.token_bytes(16))
    prefix = _unique('pct')
    view = raw.ok('POST', f'/artifacts/upload/{prefix}%3Av1', {'upload_uuid': upload})
    return {'prefix': prefix, **view}


def _source_urls(raw: Raw, needle: str) -> set[str]:
    return {a['source_url'] for a in raw.ok('GET', '/artifacts') if needle in a['source_url']}


def test_artifact_names_are_percent_decoded(raw: Raw, artifact: dict[str, Any]) -> None:
    assert artifact['source_url'] == f'sf://upload/system/{artifact["prefix"]}:v1'
    assert raw.ok('GET', f'/artifacts/{artifact["prefix"]}%3av1')['uuid'] == artifact['uuid']  # lower-case hex too
    # %2F is a path separator by the time routing happens, so it reaches a deeper route.
    versions = raw.ok('GET', f'/artifacts/{artifact["uuid"]}%2Fversions')
    assert [v['uuid'] for v in versions] == [artifact['blob_uuid']]


def test_label_names_are_percent_decoded(raw: Raw, artifact: dict[str, Any]) -> None:
    prefix, blob = _unique('lbl'), {'blob_uuid': artifact['blob_uuid']}
    assert raw.ok('POST', f'/label/system/{prefix}-debian%3A12', blob)['source_url'] == \
        f'sf://label/system/{prefix}-debian:12'
    # An encoded slash splits namespace and label like a plain one; `+` is not a space in a path.
    assert raw.ok('POST', f'/label/system%2F{prefix}-slash', blob)['namespace'] == 'system'
    assert raw.ok('POST', f'/label/system/{prefix}-a+b', blob)['source_url'] == f'sf://label/system/{prefix}-a+b'
    assert _source_urls(raw, prefix) == {f'sf://label/system/{prefix}-{name}' for name in ('debian:12', 'slash', 'a+b')}


def test_metadata_keys_are_percent_decoded(raw: Raw, artifact: dict[str, Any]) -> None:
    base = f'/artifacts/{artifact["uuid"]}/metadata'
    keys = {
        'k%3Ay': 'k:y',
        'a+b': 'a+b',            # `+` stays a plus
        'c%2Bd': 'c+d',
        'sp%20ace': 'sp ace',
        'e%C3%A9': 'e\u00e9',    # UTF-8
        'bad%FFz': 'bad\ufffdz',  # not UTF-8: U+FFFD
        'odd%zz': 'odd%zz',      # not an escape: kept as written
        'tail%': 'tail%',
    }
    for raw_key in keys:
        assert raw.ok('PUT', f'{base}/{raw_key}', {'value': raw_key}) is None
    stored = raw.ok('GET', base)
    assert {name: stored.get(name) for name in keys.values()} == dict(zip(keys.values(), keys, strict=True))
    assert raw.send('DELETE', f'{base}/c%2Bd').status == 200
    assert 'c+d' not in raw.ok('GET', base)
    # A key with an encoded slash can never be reached: the path has one level too many.
    answer = raw.send('PUT', f'{base}/a%2Fb', {'value': 'x'})
    assert (answer.status, answer.content_type, answer.body) == (404, HTML, NOT_FOUND_HTML)


def test_unrouted_path_is_flask_html_404(raw: Raw, artifact: dict[str, Any]) -> None:
    for method, target, auth in (('GET', '/no/such/thing', False), ('GET', '/no/such/thing', True),
                                 ('PATCH', '/no/such', True), ('OPTIONS', '/no/such', False),
                                 ('GET', f'/artifacts/{artifact["uuid"]}/metadata/', True),  # trailing slash
                                 ('GET', '/auth/namespaces/', True),
                                 ('GET', f'/artifacts/{artifact["uuid"]}///metadata', True)):  # `///` merges to `//`
        answer = raw.send(method, target, auth=auth)
        assert (answer.status, answer.content_type, answer.body) == (404, HTML, NOT_FOUND_HTML), (method, target)
    head = raw.send('HEAD', '/no/such', auth=False)
    assert (head.status, head.content_type, head.body) == (404, HTML, b'')
    assert head.headers['Content-Length'] == str(len(NOT_FOUND_HTML))


def test_wrong_method_is_flask_restful_json_405(raw: Raw) -> None:
    for method, target, allow in (('PATCH', '/auth/namespaces', {'GET', 'HEAD', 'POST', 'OPTIONS'}),
                                  ('PUT', '/artifacts', {'GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'}),
                                  ('DELETE', '/blobs/anything', {'GET', 'HEAD', 'OPTIONS'})):
        for auth in (True, False):  # routing comes before authentication
            answer = raw.send(method, target, auth=auth)
            assert (answer.status, answer.content_type, answer.body) == (405, 'application/json', METHOD_NOT_ALLOWED)
            assert answer.allow() == allow, (method, target, answer.headers.get('Allow'))


def test_options_is_answered_by_flask(raw: Raw) -> None:
    answer = raw.send('OPTIONS', '/artifacts', auth=False)
    assert (answer.status, answer.content_type, answer.body) == (200, HTML, b'')
    assert answer.allow() == {'GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'}


def test_slashes_leading_merged_and_redirected(raw: Raw, artifact: dict[str, Any]) -> None:
    uuid = artifact['uuid']
    assert raw.ok('GET', f'//artifacts/{uuid}/metadata') == raw.ok('GET', f'/artifacts/{uuid}/metadata')
    for target, path in ((f'/artifacts//{uuid}/metadata', f'/artifacts/{uuid}/metadata'),
                         (f'/artifacts/{uuid}%2F%2Fmetadata?a=1&b=%2F', f'/artifacts/{uuid}/metadata?a=1&b=%2F'),
                         ('/artifacts//%C3%A9%20x%3F', '/artifacts/%C3%A9%20x%3F'),
                         ('/label//some-label', '/label/some-label')):
        answer = raw.send('GET', target)
        location = f'http://{raw.host}:{raw.port}{path}'
        shown = location.replace('&', '&amp;')
        page = ('<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n'
                f'<p>You should be redirected automatically to the target URL: <a href="{shown}">{shown}</a>. If not,'
                ' click the link.\n').encode()
        assert (answer.status, answer.content_type, answer.headers['Location'], answer.body) == \
            (308, HTML, location, page), target
    # A wrong method on a path that only matches once merged: flask-restful's 405 handler meets the redirect,
    # raises, and gunicorn answers with its own page.
    answer = raw.send('PATCH', '/auth//namespaces')
    assert (answer.status, answer.content_type, answer.body) == (500, 'text/html', GUNICORN_500_HTML)
    answer = raw.send('OPTIONS', '/auth//namespaces', auth=False)
    assert (answer.status, answer.headers['Location']) == (308, f'http://{raw.host}:{raw.port}/auth/namespaces')


def test_label_path_keeps_inner_double_slash(raw: Raw, artifact: dict[str, Any], sf_server: Any) -> None:
    # `<path:...>` takes `system//x` whole, so no redirect: a name with an empty part, refused.
    answer = raw.send('POST', f'/label/system//{_unique("dbl")}', {'blob_uuid': artifact['blob_uuid']})
    if sf_server.kind == 'real':
        assert answer.status == 500 and answer.json()['error'] == 'server error: LabelHierarchyTooDeep()'
    else:
        assert answer.status == 400 and answer.json()['status'] == 400


def test_truncate_offset_routing(raw: Raw, sf_server: Any) -> None:
    upload = raw.ok('POST', '/upload')['uuid']
    raw.append(upload, b'0123456789')
    for offset in ('-1', 'abc'):
        answer = raw.send('POST', f'/upload/{upload}/truncate/{offset}')
        if sf_server.kind == 'real':
            # 0.7.2 routes any segment and fails in int() or os.truncate().
            assert answer.status == 500 and answer.json()['error'].startswith('server error: ')
        else:
            # The newest server's `int:` converter takes digits only: anything else is not routed.
            assert (answer.status, answer.content_type, answer.body) == (404, HTML, NOT_FOUND_HTML)
    assert raw.ok('POST', f'/upload/{upload}/truncate/%34') is None  # `%34` is `4`


def test_api_error_bodies_have_no_trailing_newline(raw: Raw, artifact: dict[str, Any]) -> None:
    # The server's error helper sends bare json.dumps(); flask-restful's answers (200s, the 405) add a newline.
    answer = raw.send('GET', f'/artifacts/{_unique("missing")}')
    assert (answer.status, answer.content_type, answer.body) == \
        (404, 'application/json', b'{"error": "artifact not found", "status": 404}')
    answer = raw.send('GET', '/auth/namespaces', auth=False)
    assert answer.status == 401 and answer.body.startswith(b'{"error": ') and answer.body.endswith(b'401}')
    answer = raw.send('GET', f'/artifacts/{artifact["uuid"]}')
    assert answer.status == 200 and answer.body.endswith(b'}\n')
