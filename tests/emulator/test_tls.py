"""HTTPS: --tls-cert/--tls-key, EmulatorProcess over TLS, and make_test_ca for the collection's TLS tests.

The CA is made with the `openssl` command when it is installed and with the `cryptography` package when that is
installed (it comes with ansible-core here): each test that needs a CA runs once per tool found, and the test id
says which (`[openssl]`, `[cryptography]`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sfe_helpers import Api

from sf_emulator.testing import EmulatorProcess, ca_tools, free_port, make_test_ca

TOOLS = ca_tools()
pytestmark = pytest.mark.skipif(not TOOLS, reason='neither the openssl command nor cryptography is installed')


@pytest.fixture(params=TOOLS or ['none'])
def test_ca(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_test_ca(tmp_path / 'tls', tool=request.param)


def test_https_with_a_test_ca(tmp_path: Path, test_ca: tuple[Path, Path, Path]) -> None:
    ca, cert, key = test_ca
    with EmulatorProcess(tmp_path / 'data', tls_cert=cert, tls_key=key, tls_ca=ca) as sf:
        assert sf.url.startswith('https://127.0.0.1:')
        assert requests.get(sf.url + '/livez', verify=str(ca)).text == 'ok'
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sf.url + '/livez')  # not signed by a CA the default bundle trusts
        with pytest.raises(requests.ConnectionError):
            requests.get(sf.url.replace('https://', 'http://') + '/livez', timeout=10)
        # The whole upload path over TLS, blob data included (sent with send(), not sendfile()).
        api = Api(sf.url, 'system', sf.system_key)
        api.session.verify = str(ca)
        api.session.trust_env = False  # else REQUESTS_CA_BUNDLE, when set, overrides session.verify
        data = os.urandom(3 << 20)
        art = api.upload_bytes('over-tls', data)
        assert api.ok('GET', f'/blobs/{art["blob_uuid"]}')['sha512'] == hashlib.sha512(data).hexdigest()
        assert api.call('GET', f'/blobs/{art["blob_uuid"]}/data').content == data
        # The helper's own calls verify the server too.
        sf.add_fault(kind='fail', method='GET', path='^/livez$', count=1, status=503)
        assert requests.get(sf.url + '/livez', verify=str(ca)).status_code == 503
        assert any(e['path'] == '/livez' for e in sf.request_log())


@pytest.mark.filterwarnings('ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning')
def test_only_tls_1_2_and_newer(tmp_path: Path, test_ca: tuple[Path, Path, Path]) -> None:
    ca, cert, key = test_ca
    with EmulatorProcess(tmp_path / 'data', tls_cert=cert, tls_key=key, tls_ca=ca) as sf:
        client = ssl.create_default_context(cafile=str(ca))
        with socket.create_connection(('127.0.0.1', sf.port), timeout=10) as raw, \
                client.wrap_socket(raw, server_hostname='127.0.0.1') as tls:
            assert tls.version() in ('TLSv1.2', 'TLSv1.3')
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(str(ca))
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers('DEFAULT:@SECLEVEL=0')  # so that it is the server, not this client, that says no
        with socket.create_connection(('127.0.0.1', sf.port), timeout=10) as raw, pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname='127.0.0.1').close()
        assert requests.get(sf.url + '/readyz', verify=str(ca)).text == 'ready'  # still serving


def test_the_emulator_process_trusts_its_own_certificate_without_the_ca(tmp_path: Path) -> None:
    _, cert, key = make_test_ca(tmp_path / 'tls')
    with EmulatorProcess(tmp_path / 'data', tls_cert=cert, tls_key=key) as sf:
        assert sf.request_log() is not None


def test_over_the_cap_over_tls_is_a_503(tmp_path: Path) -> None:
    ca, cert, key = make_test_ca(tmp_path / 'tls')
    sf = EmulatorProcess(tmp_path / 'data', tls_cert=cert, tls_key=key, tls_ca=ca,
                         extra_args=['--max-connections', '1'])
    with sf, requests.Session() as holder:
        holder.verify, holder.trust_env = str(ca), False
        # The start-up readiness probe's connection may not be reaped yet: wait for the one slot to be free.
        deadline = time.monotonic() + 10
        while holder.get(sf.url + '/livez').status_code != 200:  # once 200, it keeps its connection open
            assert time.monotonic() < deadline, 'the only connection slot never became free'
            time.sleep(0.1)
        answer = requests.get(sf.url + '/livez', verify=str(ca))
        assert answer.status_code == 503 and answer.json()['error'] == 'too many connections'


def test_a_silent_tls_handshake_gives_its_thread_back(tmp_path: Path) -> None:
    """Handshakes run on the request threads: one that stops half-way is dropped after --request-read-timeout, and
    the emulator answers meanwhile."""
    ca, cert, key = make_test_ca(tmp_path / 'tls')
    sf = EmulatorProcess(tmp_path / 'data', tls_cert=cert, tls_key=key, tls_ca=ca,
                         extra_args=['--request-read-timeout', '1', '--request-threads', '1'])
    with sf, socket.create_connection(('127.0.0.1', sf.port), timeout=30) as sock:
        sock.sendall(b'\x16\x03\x01\x02\x00')  # a record header announcing a ClientHello that never comes
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(4096) == b''
        assert 0.5 < time.monotonic() - started < 10
        assert requests.get(sf.url + '/livez', verify=str(ca), timeout=10).text == 'ok'


def test_tls_flag_errors_are_one_line(tmp_path: Path) -> None:
    _, cert, key = make_test_ca(tmp_path / 'tls')
    cases = (['--tls-cert', str(cert)], ['--tls-key', str(key)], ['--tls-cert', str(tmp_path / 'none.pem'),
             '--tls-key', str(key)], ['--tls-cert', str(key), '--tls-key', str(cert)])
    for args in cases:
        result = subprocess.run([sys.executable, '-m', 'sf_emulator', 'serve', '--data-dir', str(tmp_path / 'd'),
                                 '--port', str(free_port()), *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert 'tls' in result.stderr and 'Traceback' not in result.stderr
    with pytest.raises(ValueError, match='together'):
        EmulatorProcess(tmp_path / 'data', tls_cert=cert)
