"""Start and stop an emulator in a subprocess, for test suites (this project's and anyone's).

    with EmulatorProcess(tmp_path / 'sf') as sf:
        requests.get(sf.url + '/')
        sf.add_fault(kind='fail', method='POST', path='^/upload/', count=2, status=503)

The process listens on 127.0.0.1 only and is stopped by its PID (SIGTERM, then SIGKILL).

HTTPS, with a throwaway CA made for the test:

    ca, cert, key = make_test_ca(tmp_path / 'tls')
    with EmulatorProcess(tmp_path / 'sf', tls_cert=cert, tls_key=key, tls_ca=ca) as sf:
        requests.get(sf.url + '/livez', verify=str(ca))     # sf.url starts with https://
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Requests made by this helper carry this User-Agent, so tests counting requests can leave them out.
USER_AGENT = 'sf-emulator-testing'
# The system key reaches the process in its environment: on the command line every local user could read it.
SYSTEM_KEY_ENV = 'SF_EMULATOR_SYSTEM_KEY'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        system_key: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        tls_ca: Path | str | None = None,
        server_profile: str | None = None,
    ) -> None:
        """`tls_cert` and `tls_key` (PEM files) serve HTTPS; this helper's own calls then trust `tls_ca`, or, without
        it, exactly `tls_cert`. `server_profile` ('0.7.2', 'latest') is passed as `--server-profile`; None leaves the
        emulator's default."""
        if (tls_cert is None) != (tls_key is None):
            raise ValueError('tls_cert and tls_key go together')
        self.data_dir = Path(data_dir)
        self._fixed_port = port
        self.port = port or 0
        self.system_key = system_key or secrets.token_urlsafe(18)
        self.extra_args = list(extra_args)
        self.server_profile = server_profile
        self.env = dict(env or {})  # added to this process's environment for the child (e.g. SF_EMULATOR_PAUSE_AT)
        self.url = ''
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self.log_path = self.data_dir / 'emulator.log'  # stdout and stderr of the process, appended
        self.tls_cert = None if tls_cert is None else Path(tls_cert)
        self.tls_key = None if tls_key is None else Path(tls_key)
        self.tls_ca = None if tls_ca is None else Path(tls_ca)
        self.ssl_context: ssl.SSLContext | None = None  # what this helper's calls verify the server with
        if self.tls_cert is not None:
            self.ssl_context = ssl.create_default_context(cafile=str(self.tls_ca or self.tls_cert))
            self.ssl_context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf as its own trust anchor

    @property
    def scheme(self) -> str:
        return 'https' if self.tls_cert is not None else 'http'

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise RuntimeError('emulator already started')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._fixed_port else 5
        for attempt in range(attempts):
            self.port = self._fixed_port or free_port()
            try:
                self._spawn()
                return self
            except RuntimeError:
                # A free port can be taken by someone else between picking it and binding it: try another.
                if attempt == attempts - 1 or 'cannot listen' not in self.log_tail():
                    raise
        return self

    def _spawn(self) -> None:
        self.url = f'{self.scheme}://127.0.0.1:{self.port}'
        tls = [] if self.tls_cert is None else ['--tls-cert', str(self.tls_cert), '--tls-key', str(self.tls_key)]
        profile = [] if self.server_profile is None else ['--server-profile', self.server_profile]
        command = [
            sys.executable, '-m', 'sf_emulator', 'serve',
            '--host', '127.0.0.1', '--port', str(self.port),
            '--data-dir', str(self.data_dir), *tls, *profile, *self.extra_args,
        ]
        log = open(self.log_path, 'ab')  # noqa: SIM115 - the child keeps writing to it
        try:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env={**os.environ, **self.env, SYSTEM_KEY_ENV: self.system_key})
        finally:
            log.close()
        self.pid = self._process.pid
        self._token = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process, self.pid = None, None
                raise RuntimeError(f'emulator exited with status {code} while starting:\n{self.log_tail()}')
            try:
                with urllib.request.urlopen(self.url + '/readyz', timeout=2, context=self.ssl_context) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'emulator did not become ready within {START_TIMEOUT}s:\n{self.log_tail()}')

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        self.pid = None
        self._token = None

    def kill(self) -> None:
        """SIGKILL the process (a crash: nothing is flushed or cleaned up) and wait for it to be gone."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
        self.pid = None
        self._token = None

    def restart(self) -> None:
        """Stop and start again on the same port and data dir (state must survive)."""
        self.stop()
        fixed, self._fixed_port = self._fixed_port, self.port
        try:
            self.start()
        finally:
            self._fixed_port = fixed

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    # --- emulator admin API -------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, retry: bool = True) -> Any:
        if self._token is None:
            self._token = self._post_json('/auth', {'namespace': 'system', 'key': self.system_key})['access_token']
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header('Authorization', f'Bearer {self._token}')
        request.add_header('User-Agent', USER_AGENT)
        request.add_header('Accept', 'application/json')
        request.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.ssl_context) as answer:
                return json.loads(answer.read() or b'null')
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and retry:  # e.g. after an expire_tokens fault
                self._token = None
                return self._call(method, path, body, retry=False)
            raise RuntimeError(f'{method} {path}: {exc.code} {exc.read().decode(errors="replace")}') from None

    def _post_json(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method='POST')
        request.add_header('User-Agent', USER_AGENT)
        request.add_header('Accept', 'application/json')
        with urllib.request.urlopen(request, timeout=30, context=self.ssl_context) as answer:
            return json.loads(answer.read())

    def request_log(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call('GET', f'/_emulator/requests?since={int(since)}'))

    def clear_request_log(self) -> None:
        self._call('DELETE', '/_emulator/requests')

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        return dict(self._call('POST', '/_emulator/faults', spec))

    def clear_faults(self) -> None:
        self._call('DELETE', '/_emulator/faults')

    def set_config(self, **values: Any) -> dict[str, Any]:
        return dict(self._call('POST', '/_emulator/config', values))


# --- a throwaway certificate authority for TLS tests -----------------------------------------------------------
CA_DAYS = 2
_OPENSSL_CONFIG = '''
[req]
distinguished_name = dn
prompt = no
[dn]
CN = sf-emulator test
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
'''


def ca_tools() -> list[str]:
    """What `make_test_ca` can use here, preferred first: the `openssl` command, the `cryptography` package."""
    tools = ['openssl'] if shutil.which('openssl') else []
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return tools
    return [*tools, 'cryptography']


def make_test_ca(directory: Path | str, tool: str | None = None) -> tuple[Path, Path, Path]:
    """Make a throwaway CA and a server certificate for 127.0.0.1 (and localhost) it signed, valid for two days.

    Returns (ca_path, cert_path, key_path): PEM files in `directory`, the key readable by its owner only. Use
    `cert_path` and `key_path` for `EmulatorProcess(tls_cert=..., tls_key=...)` or `--tls-cert`/`--tls-key`, and
    trust `ca_path` in the client (`verify=`, `ca_path`, `REQUESTS_CA_BUNDLE`). Made with the `openssl` command when
    it is installed, otherwise with the `cryptography` package when that is installed (`tool` picks one, see
    `ca_tools()`); with neither, RuntimeError.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    available = ca_tools()
    chosen = tool or (available[0] if available else None)
    if chosen is None or chosen not in available:
        raise RuntimeError(f'cannot make a test CA: {tool or "neither the openssl command nor cryptography"} '
                           'is available')
    paths = folder / 'ca.pem', folder / 'server.pem', folder / 'server.key'
    if chosen == 'openssl':
        _ca_with_openssl(folder, *paths)
    else:
        _ca_with_cryptography(*paths)
    paths[2].chmod(0o600)
    (folder / 'ca.key').chmod(0o600)
    return paths


def _ca_with_openssl(folder: Path, ca: Path, cert: Path, key: Path) -> None:
    config = folder / 'openssl.cnf'
    config.write_text(_OPENSSL_CONFIG)
    request = folder / 'server.csr'
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    for command in (
        ['req', '-x509', '-config', config, '-extensions', 'ca', *ec, '-keyout', folder / 'ca.key', '-out', ca,
         '-days', CA_DAYS, '-subj', '/CN=sf-emulator test CA'],
        ['req', '-new', '-config', config, *ec, '-keyout', key, '-out', request, '-subj', '/CN=127.0.0.1'],
        ['x509', '-req', '-in', request, '-CA', ca, '-CAkey', folder / 'ca.key', '-set_serial',
         str(secrets.randbits(63)), '-days', CA_DAYS, '-extfile', config, '-extensions', 'server', '-out', cert],
    ):
        result = subprocess.run(['openssl', *map(str, command)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f'openssl {command[0]} failed: {result.stderr.strip()}')
    request.unlink()


def _ca_with_cryptography(ca: Path, cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'sf-emulator test CA')])

    def usage(**flags: bool) -> x509.KeyUsage:
        names = ('digital_signature', 'content_commitment', 'key_encipherment', 'data_encipherment',
                 'key_agreement', 'key_cert_sign', 'crl_sign', 'encipher_only', 'decipher_only')
        return x509.KeyUsage(**{name: flags.get(name, False) for name in names})

    def builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    ca_cert = (builder(ca_name, ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
    server_cert = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')]),
                           server_key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(usage(digital_signature=True, key_encipherment=True), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                                                               x509.DNSName('localhost')]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    unencrypted = (pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca.write_bytes(ca_cert.public_bytes(pem))
    (ca.parent / 'ca.key').write_bytes(ca_key.private_bytes(*unencrypted))
    cert.write_bytes(server_cert.public_bytes(pem))
    key.write_bytes(server_key.private_bytes(*unencrypted))
