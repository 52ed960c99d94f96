"""The transport over HTTPS against a local server whose certificate a throwaway CA signed: ca_path and
validate_certs win over the CA bundles requests reads from the environment, an untrusted certificate fails at once
with what it was checked against, and validate_certs=false warns only the collection's way."""

from __future__ import annotations

import functools
import json
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport
from sf_emulator.testing import ca_tools, make_test_ca

pytestmark = pytest.mark.skipif(not ca_tools(), reason='neither the openssl command nor cryptography is installed')

CA_BUNDLE_VARIABLES = ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')  # what requests reads, in its order
FILE = b'bytes of a file served over https\n'


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self._answer(json.dumps({'access_token': 'token-1234567890'}).encode(), 'application/json')

    def do_GET(self) -> None:  # noqa: N802
        if self.path == '/file':
            self._answer(FILE, 'application/octet-stream')
        else:
            self._answer(b'[]', 'application/json')


class CountingServer(ThreadingHTTPServer):
    """Counts connections, so a test can tell one refused handshake from a retried one."""

    connections = 0

    def get_request(self) -> Any:
        self.connections += 1
        return super().get_request()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing the certificate is what several tests are about


@dataclass
class Https:
    url: str
    ca: Path
    server: CountingServer


@pytest.fixture(scope='module')
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    ca, cert, key = make_test_ca(tmp_path_factory.mktemp('tls'))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = CountingServer(('127.0.0.1', 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield Https(f'https://127.0.0.1:{server.server_address[1]}', ca, server)
    server.shutdown()
    server.server_close()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets the CA bundle variables requests reads, after removing whatever this machine has."""
    for name in CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return functools.partial(monkeypatch.setenv)


def transport(url: str, sleeps: list[float] | None = None, **tls: Any) -> SfTransport:
    settings = ConnectionSettings(api_url=url, namespace='ci', key='a-key-for-the-test', retries=3, timeout=10,
                                  **tls)
    return SfTransport(settings, sleep=(sleeps if sleeps is not None else []).append)


def works(client: SfTransport, https: Https) -> None:
    assert client.request('GET', '/artifacts') == []
    with client.open_url(https.url + '/file') as answer:
        assert answer.content == FILE


def refused(client: SfTransport, https: Https, checked_against: str) -> None:
    with pytest.raises(errors.SfCertificateError) as caught:
        client.request('GET', '/artifacts')
    assert caught.value.message == (f'TLS verification failed for {https.url}: unable to get local issuer '
                                    f'certificate; the certificate was checked against {checked_against}')
    assert caught.value.kind == 'transport_error' and caught.value.hint.startswith('set ca_path to ')
    with pytest.raises(errors.SfCertificateError) as caught:
        client.open_url(https.url + '/file')
    assert caught.value.message.startswith(f'TLS verification failed for {https.url}/file: unable to get local')
    assert caught.value.message.endswith(f'checked against {checked_against}')


@pytest.mark.parametrize('bundles', [(), ('REQUESTS_CA_BUNDLE',), ('CURL_CA_BUNDLE',), CA_BUNDLE_VARIABLES])
def test_ca_path_wins_over_unrelated_bundles_in_the_environment(
        https: Https, environment: Any, bundles: tuple[str, ...]) -> None:
    for name in bundles:
        environment(name, certifi.where())
    works(transport(https.url, ca_path=str(https.ca)), https)


def test_ca_path_is_the_only_bundle_even_when_the_environment_names_the_right_one(
        https: Https, environment: Any) -> None:
    environment('REQUESTS_CA_BUNDLE', str(https.ca))
    refused(transport(https.url, ca_path=certifi.where()), https, f'ca_path {certifi.where()}')


@pytest.mark.parametrize('name', CA_BUNDLE_VARIABLES)
def test_the_environment_is_used_when_the_task_names_no_ca(https: Https, environment: Any, name: str) -> None:
    environment(name, str(https.ca))
    works(transport(https.url), https)


def test_an_untrusted_certificate_fails_at_once_naming_what_it_was_checked_against(
        https: Https, environment: Any) -> None:
    sleeps: list[float] = []
    before = https.server.connections
    refused(transport(https.url, sleeps), https, 'the default CA bundle of the requests library')
    # Nothing was sent and repeating cannot help: one handshake for the API request, one for the download.
    assert sleeps == [] and https.server.connections - before == 2
    environment('REQUESTS_CA_BUNDLE', certifi.where())
    refused(transport(https.url), https, f'REQUESTS_CA_BUNDLE={certifi.where()} from the environment')


def test_validate_certs_false_wins_over_the_environment_without_urllib3_warnings(
        https: Https, environment: Any) -> None:
    environment('REQUESTS_CA_BUNDLE', certifi.where())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        requests.get(https.url + '/file', verify=False, timeout=10)  # the warning the transport keeps off screen
        assert [w.category for w in seen] == [InsecureRequestWarning]
        works(transport(https.url, validate_certs=False), https)
        assert len(seen) == 1, [str(w.message) for w in seen]


def test_a_handshake_that_fails_for_another_reason_says_so(scripted_server: Any) -> None:
    plain = scripted_server(lambda record: (200, [], {}))
    client = transport(plain.url.replace('http://', 'https://'))
    with pytest.raises(errors.SfTransportError) as caught:
        client.request('GET', '/artifacts')
    assert not isinstance(caught.value, errors.SfCertificateError)
    assert caught.value.message.startswith(f'TLS handshake with {client.base_url} failed: ')
    assert caught.value.message == f'TLS handshake with {client.base_url} failed: wrong version number'
    assert caught.value.hint == 'the server does not speak TLS on this port: check the scheme of api_url'
