"""Errors say the right thing (issue 19, point 6): which setting or which URL is wrong, and what to check.

- An api_url that leads to no Shaken Fist API (a wrong path: 404 on POST /auth) is the api_url's fault, not the
  key's; a 404 in Shaken Fist's own words (an unknown namespace) and a 401 (a wrong key) stay `unauthenticated`.
- A URL outside the API (a `fetch: controller` download, check mode's look at a source URL) that fails names that
  URL and hints at reaching it from this host, never at api_url.
- A URL the cluster fetches that answers 404 is `not_found` naming that URL; other fetch failures stay
  `server_error`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._client import build_client
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    ArtifactRow,
    FakeCluster,
    failing,
    publish,
)
from sf_emulator.testing import EmulatorProcess

SECRET = 'correct-horse-battery-staple'
FLASK_404 = (b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
             b'<p>The requested URL was not found on the server.</p>\n')
URL = 'https://images.example.com/web.qcow2'


def transport(url: str) -> SfTransport:
    settings = ConnectionSettings(api_url=url, namespace='ci', key=SECRET, retries=0, timeout=5)
    return SfTransport(settings, sleep=lambda _: None)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def points_at_api_url(exc: errors.SfError, url: str) -> None:
    """The error blames api_url, names the URL tried, and does not send the user to their key."""
    assert exc.kind == 'invalid_input' and exc.status in (200, 404, 405)
    assert f'api_url {url}' in exc.message and 'Shaken Fist API' in exc.message
    assert exc.hint and 'api_url' in exc.hint and 'key' not in exc.hint.replace('namespace and key were', '')
    assert SECRET not in str(exc.to_dict())


# (a) An api_url with the wrong path
@pytest.mark.parametrize('answer', [
    (404, FLASK_404),  # a web server (or Flask itself) with no such route: an HTML page
    (404, {'message': 'The requested URL was not found on the server.'}),  # flask-restful's JSON 404
    (404, {'detail': 'Not Found'}),  # some other JSON API
    (405, b'<html><title>405 Method Not Allowed</title></html>'),  # a route that takes no POST
    (200, b'<html><title>Welcome</title><body>a web site</body></html>'),  # a site answering every path
], ids=['html-404', 'flask-restful-404', 'other-json-404', 'html-405', 'html-200'])
def test_auth_answered_by_something_else_blames_api_url(scripted_server: Any, answer: Any) -> None:
    server = scripted_server(lambda r: (answer[0], answer[1], {}))
    api_url = f'{server.url}/wrong'
    with pytest.raises(errors.SfInvalidInput) as caught:
        transport(api_url).request('GET', '/artifacts')
    points_at_api_url(caught.value, api_url)
    assert f'POST {api_url}/auth answered HTTP {answer[0]}' in caught.value.message
    assert caught.value.method == 'POST' and caught.value.path == '/auth'


def test_an_unknown_namespace_in_shaken_fists_words_stays_unauthenticated(scripted_server: Any) -> None:
    server = scripted_server(lambda r: (404, {'error': 'namespace not found', 'status': 404}, {}))
    with pytest.raises(errors.SfUnauthenticated) as caught:
        transport(server.url).request('GET', '/artifacts')
    assert caught.value.status == 404 and "namespace 'ci'" in caught.value.message
    assert 'namespace not found' in caught.value.message and 'namespace' in (caught.value.hint or '')


def test_the_root_page_missing_blames_api_url(scripted_server: Any) -> None:
    # Capabilities are read from GET / before any authentication: a 404 there is not a missing object either.
    server = scripted_server(lambda r: (404, FLASK_404, {}))
    api_url = f'{server.url}/wrong'
    with pytest.raises(errors.SfInvalidInput) as caught:
        transport(api_url).capabilities()
    points_at_api_url(caught.value, api_url)
    assert f'GET {api_url}/ answered HTTP 404 (404 Not Found)' in caught.value.message


@pytest.fixture(scope='module', params=['0.7.2', 'latest'])
def emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path_factory.mktemp('sf'), server_profile=request.param) as sf:
        yield sf


def client(api_url: str, namespace: str, key: str) -> Any:
    return build_client({'api_url': api_url, 'namespace': namespace, 'key': key, 'retries': 0, 'timeout': 10})


def test_the_emulator_at_a_wrong_path_is_not_a_bad_key(emulator: EmulatorProcess) -> None:
    api_url = f'{emulator.url}/wrong'
    wrong = client(api_url + '/', 'system', emulator.system_key)
    calls = (wrong.api.list_artifacts, lambda: wrong.api.features, lambda: wrong.resolver.resolve('label:nothing-here'))
    for call in calls:
        # Never SfNotFound: callers (the lookup's on_missing, "there is no instance ...") read that as a missing
        # object, which would hide the wrong api_url.
        with pytest.raises(errors.SfInvalidInput) as caught:
            call()
        points_at_api_url(caught.value, api_url)
        assert caught.value.status == 404 and 'HTTP 404 (404 Not Found)' in caught.value.message


@pytest.mark.parametrize('namespace,key,status', [('no-such-namespace', SECRET, 404), ('system', SECRET, 401)],
                         ids=['unknown-namespace', 'wrong-key'])
def test_the_emulator_refusing_namespace_or_key_stays_unauthenticated(
        emulator: EmulatorProcess, namespace: str, key: str, status: int) -> None:
    with pytest.raises(errors.SfUnauthenticated) as caught:
        client(emulator.url, namespace, key).api.list_artifacts()
    assert caught.value.status == status and f'namespace {namespace!r}' in caught.value.message
    assert 'key' in (caught.value.hint or '') and SECRET not in str(caught.value.to_dict())


# (b) A URL outside the API: the source, not api_url
def test_an_unreachable_source_url_names_it_and_not_api_url() -> None:
    source = f'http://127.0.0.1:{closed_port()}/images/web.qcow2'
    with pytest.raises(errors.SfTransportError) as caught:
        transport('https://sf.example.com/api').open_url(source)
    exc = caught.value
    assert source in exc.message and 'sf.example.com' not in exc.message and 'refused' in exc.message
    assert exc.hint and 'api_url' not in exc.hint and 'proxy' in exc.hint and 'host running the task' in exc.hint
    assert exc.detail == {'url': source}


def test_a_source_url_that_answers_404_is_not_found_naming_it(scripted_server: Any) -> None:
    server = scripted_server(lambda r: (404, FLASK_404, {}))
    source = f'{server.url}/images/web.qcow2'
    with pytest.raises(errors.SfNotFound) as caught:
        transport('https://sf.example.com/api').open_url(source)
    assert source in caught.value.message and caught.value.status == 404
    assert caught.value.hint and 'api_url' not in caught.value.hint and caught.value.detail == {'url': source}


def test_a_controller_download_that_answers_404_is_not_found(tmp_path: Path) -> None:
    api = FakeCluster('ci')
    with pytest.raises(errors.SfNotFound) as caught:
        publish(api, name='web', url=URL, fetch='controller', state_dir=str(tmp_path))
    assert caught.value.kind == 'not_found' and URL in caught.value.message
    assert 'api_url' not in (caught.value.hint or '') and api.writes == []


class _BreaksOffServer:
    """Promises a body of 1000 bytes, sends 10 and hangs up: a download that breaks off mid-body."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}/images/web.qcow2'
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'x' * 10)


def test_a_controller_download_that_breaks_off_names_the_source() -> None:
    server, client = _BreaksOffServer(), transport('https://sf.example.com/api')
    try:
        with pytest.raises(errors.SfTransportError) as caught, client.open_url(server.url) as answer:
            for _block in client.blocks(answer, 4096, url=server.url):
                pass
    finally:
        server.sock.close()
    assert server.url in caught.value.message and 'sf.example.com' not in caught.value.message
    assert caught.value.hint and 'api_url' not in caught.value.hint


def real_source_requests(api: FakeCluster) -> FakeCluster:
    """The fake cluster, with URLs outside the API reached by the real transport (as a module reaches them)."""
    api.open_url = SfApi(transport('https://sf.example.com/api')).open_url
    return api


@pytest.mark.parametrize('where', ['unreachable', 'breaks-off'])
def test_a_failed_controller_download_names_the_source_not_api_url_nor_this_host(tmp_path: Path, where: str) -> None:
    server = _BreaksOffServer() if where == 'breaks-off' else None
    source = server.url if server else f'http://127.0.0.1:{closed_port()}/images/web.qcow2'
    api = real_source_requests(FakeCluster('ci'))
    try:
        with pytest.raises(errors.SfTransportError) as caught:
            publish(api, name='web', url=source, fetch='controller', state_dir=str(tmp_path))
    finally:
        if server:
            server.sock.close()
    assert source in caught.value.message and 'cannot store' not in caught.value.message
    assert caught.value.hint and 'api_url' not in caught.value.hint and 'proxy' in caught.value.hint
    assert api.writes == [] and not list(tmp_path.glob('sf-download-*'))


# (c) A URL the cluster fetches
def test_a_cluster_fetch_that_404s_is_not_found_naming_the_url() -> None:
    api = FakeCluster('ci')
    api.remote[URL] = f'fetching {URL} failed: HTTP 404 Not Found'  # the emulator's words
    failed = failing(api, url=URL)
    assert failed.kind == 'not_found' and f'could not fetch {URL}' in failed.message and 'HTTP 404' in failed.message
    assert failed.hint and 'URL' in failed.hint and failed.detail == {'url': URL}


def test_shaken_fists_own_words_for_a_404_are_not_found_too() -> None:
    api = FakeCluster('ci')
    api.remote[URL] = f'Failed to fetch HEAD of {URL} (status code 404)'  # images.py, when a server keeps them
    assert failing(api, url=URL).kind == 'not_found'


@pytest.mark.parametrize('reason', ['fetching {} failed: HTTP 500 Internal Server Error', 'DNS error',
                                    'fetching {} failed: [Errno 111] Connection refused'])
def test_other_cluster_fetch_failures_stay_server_errors(reason: str) -> None:
    api = FakeCluster('ci')
    api.remote[URL] = reason.format(URL)
    failed = failing(api, url=URL)
    assert failed.kind == 'server_error' and f'could not fetch {URL}' in failed.message


class Like072(FakeCluster):
    """0.7.2's artifact view has no error_message: why a fetch failed is only in the artifact's events."""

    def _view(self, row: ArtifactRow) -> Artifact:
        return super()._view(row).model_copy(update={'error_message': None})

    def tick(self) -> None:
        before = {uuid: row.state for uuid, row in self.artifacts.items()}
        super().tick()
        for uuid, row in self.artifacts.items():
            if row.state == 'error' and before.get(uuid) != 'error':
                self._event(row, 'artifact fetch failed', error=row.error_message)


def test_without_error_message_the_reason_comes_from_the_events() -> None:
    api = Like072('ci')
    api.capabilities.discard('get-cluster-operations')
    failed = failing(api, url=URL)  # nothing at the URL: the fake cluster's fetch answers HTTP 404
    assert failed.kind == 'not_found' and 'HTTP 404' in failed.message and URL in failed.message


def test_without_any_reason_a_failed_fetch_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Like072('ci')
    api.capabilities.discard('get-cluster-operations')
    monkeypatch.setattr(Like072, '_event', lambda self, row, text, **extra: None)  # the real 0.7.2: no such event
    failed = failing(api, url=URL)
    assert failed.kind == 'server_error' and 'the server gave no reason' in failed.message
