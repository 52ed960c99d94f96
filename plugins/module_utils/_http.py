# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport: one HTTP helper for every request to the Shaken Fist API.

Owns authentication (POST /auth once, re-auth once on 401), quoted URL segments, TLS verification,
timeouts, jittered exponential backoff, typed errors and secret redaction. No Ansible imports.
"""

from __future__ import annotations

import os
import random
import re
import ssl
import time
import traceback
import warnings
from typing import Any, Callable, Dict, Iterator, Optional, TypeVar
from urllib.parse import quote, urlsplit

from ._body import Body
from ._config import ConnectionSettings
from ._errors import (
    SfCertificateError,
    SfCheckModeWrite,
    SfInvalidInput,
    SfMissingLibrary,
    SfNotReady,
    SfServerError,
    SfTimeout,
    SfTransportError,
    SfUnauthenticated,
    error_for_status,
)
from ._redaction import redact as redact_secrets

try:
    import requests
    from urllib3.exceptions import InsecureRequestWarning

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR: Optional[str] = None
except ImportError:  # pragma: no cover - exercised by ansible-test sanity's import test
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

COLLECTION_VERSION = '0.1.0'
USER_AGENT = f'shakenfist.storage/{COLLECTION_VERSION} (Ansible collection)'
READ_METHODS = frozenset(('GET', 'HEAD'))
RETRY_STATUSES = (502, 503, 504)
MAX_BACKOFF = 8.0
BACKOFF_BASE = 0.25  # the first delay of the backoff schedule (jittered down to half of it)
NOT_READY_DEADLINE = 120.0
# The CA bundles requests reads from the environment, in its order, when a request is verified with `True`.
CA_BUNDLE_VARIABLES = ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')
API_TLS_HINT = 'set ca_path to the CA bundle that signs the cluster certificate; validate_certs=false only for testing'
API_URL_HINT = ('check api_url (or SHAKENFIST_API_URL): it must be the base URL of the Shaken Fist API, the apiurl '
                'sf-client uses, such as https://sf.example.com/api; namespace and key were not checked')
SOURCE_URL_HINT = ('check the URL, and that the host running the task can reach it: DNS, firewall, and proxy settings '
                   '(HTTP_PROXY, HTTPS_PROXY, NO_PROXY)')
SOURCE_STATUS_HINT = 'that answer came from the server of the URL, not from Shaken Fist: check the URL'
# What a server with no such route answers; Shaken Fist itself never answers these to GET / or POST /auth.
NO_SUCH_ROUTE = (404, 405)
DOWNLOAD_TLS_HINT = ('set ca_path to a CA bundle that signs this server too (ca_path verifies the API and controller '
                     'downloads alike)')

Logger = Callable[[str], None]
T = TypeVar('T')


def backoff_delay(attempt: int, cap: float = MAX_BACKOFF, base: float = BACKOFF_BASE) -> float:
    """The collection's one backoff schedule: jittered exponential from `base`, doubling per attempt up to `cap`.

    Request retries, upload chunk retries and polling waits all use it, so a struggling server sees the same
    pressure from every part of the collection.
    """
    delay = min(cap, base * (2 ** max(attempt - 1, 0)))
    return delay / 2 + random.uniform(0, delay / 2)


def _ssl_cause(exc: BaseException) -> Optional[ssl.SSLError]:
    """The ssl module's error under a requests SSLError (requests -> urllib3 -> ssl), when there is one."""
    seen = set()
    found: list = [exc]
    while found:
        item = found.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return item
        nested = (getattr(item, 'reason', None), item.__cause__, item.__context__, *item.args)
        found.extend(inner for inner in nested if isinstance(inner, BaseException))
    return None


def _describe_parse_error(exc: Exception) -> str:
    """A short reason for an answer the collection could not read (pydantic errors name the fields)."""
    errors = getattr(exc, 'errors', None)
    if callable(errors):
        try:
            found = errors()
            parts = [f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}" for item in found[:3]]
            return '; '.join(parts) + (f' (and {len(found) - 3} more)' if len(found) > 3 else '')
        except Exception:  # a description must never fail
            pass
    return f'{exc.__class__.__name__}: {str(exc)[:200]}'


def build_path(template: str, *segments: Any) -> str:
    """Fill `{}` placeholders with URL-quoted segments.

    Quoting keeps a segment one segment on the wire, but servers percent-decode the path before routing (so a
    quoted `/` still adds a path level there): names and keys are validated (_refs) before they get here.
    """
    if template.count('{}') != len(segments):
        raise ValueError(f'path template {template!r} needs {template.count("{}")} segments, got {len(segments)}')
    quoted = [quote(str(segment), safe='') for segment in segments]
    return template.format(*quoted)


def _summarise_body(text: str) -> str:
    """A short, clean description of a non-JSON error body (HTML page, traceback, plain text)."""
    stripped = text.strip()
    if not stripped:
        return 'empty response body'
    if 'Traceback (most recent call last)' in stripped:
        return 'the server failed with an internal error (traceback suppressed)'
    if stripped.startswith('<') or '<html' in stripped[:200].lower():
        title = re.search(r'<title>(.*?)</title>', stripped, re.IGNORECASE | re.DOTALL)
        heading = re.search(r'<h1>(.*?)</h1>', stripped, re.IGNORECASE | re.DOTALL)
        found = title or heading
        return re.sub(r'\s+', ' ', found.group(1)).strip() if found else 'an HTML error page'
    first_line = stripped.splitlines()[0]
    return first_line[:200]


def _sf_error(response: Any) -> Optional[str]:
    """The message of an error answer in Shaken Fist's own shape, {"error": "...", "status": <the status>}; None
    for anything else (an HTML page, another JSON)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get('error'), str) and body.get('status') == response.status_code:
        return str(body['error'])
    return None


class _ViewBody:
    """A request body over a memoryview that requests streams without copying: it has a length (so requests sets
    Content-Length) and read() hands urllib3 the whole view at once, which goes to sendall() as it is."""

    def __init__(self, view: memoryview) -> None:
        self._view: Optional[memoryview] = view
        self._length = len(view)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> Any:
        view, self._view = self._view, None
        return view if view is not None else b''


class SfTransport:
    """An authenticated session against one Shaken Fist API endpoint."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        log: Optional[Logger] = None,
        read_only: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not HAS_REQUESTS:
            raise SfMissingLibrary('requests', REQUESTS_IMPORT_ERROR)
        self.settings = settings
        self.read_only = read_only
        self._log = log
        self._sleep = sleep
        self._token: Optional[str] = None
        self._capabilities: Optional[str] = None
        self.session = requests.Session()
        self.session.headers['User-Agent'] = USER_AGENT
        self.session.headers['Accept'] = 'application/json'
        self.session.verify = settings.ca_path if (settings.validate_certs and settings.ca_path) else (
            settings.validate_certs)
        if self.session.verify is False:
            self._quiet_unverified(self.base_url)
        self.request_count = 0
        self.write_count = 0

    # Secrets never leave this object: anything printable goes through redact().
    def redact(self, text: str) -> str:
        return redact_secrets(text, (self.settings.key or '', self._token or ''))

    def log(self, message: str) -> None:
        if self._log:
            self._log(self.redact(message))

    @property
    def base_url(self) -> str:
        return self.settings.api_url

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def trusted_cas(self) -> str:
        """What a certificate is checked against, the way requests decides it: an explicit ca_path is passed on every
        request, so only when the task gave none do the environment's CA bundles count."""
        verify = self.session.verify
        if verify is False:
            return 'nothing (validate_certs is false)'
        if isinstance(verify, str):
            return f'ca_path {verify}'
        for name in CA_BUNDLE_VARIABLES:
            if os.environ.get(name):
                return f'{name}={os.environ[name]} from the environment'
        return 'the default CA bundle of the requests library'

    @staticmethod
    def _quiet_unverified(url: str) -> None:
        """validate_certs=false already warns once, the collection's way: urllib3's warning on every request to that
        host would otherwise reach the screen as raw stderr (from a lookup) or be lost (from a module)."""
        host = urlsplit(url).hostname or ''
        warnings.filterwarnings('ignore', message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
                                category=InsecureRequestWarning)

    def _tls_error(self, exc: BaseException, url: str, hint: str, **context: Any) -> SfTransportError:
        """One clear error for a failed TLS handshake: which certificate check failed and against what."""
        cause = _ssl_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or str(cause)
            return SfCertificateError(f'TLS verification failed for {url}: {self.redact(str(why))}; the certificate '
                                      f'was checked against {self.trusted_cas()}', hint=hint,
                                      detail={'before_send': True}, **context)
        reason = getattr(cause, 'reason', None)
        if reason == 'WRONG_VERSION_NUMBER':  # what a plain HTTP answer to a TLS hello looks like
            which = 'api_url' if url == self.base_url else 'the URL'
            hint = f'the server does not speak TLS on this port: check the scheme of {which}'
        text = reason.lower().replace('_', ' ') if isinstance(reason, str) else self._short_reason(str(exc))
        return SfTransportError(f'TLS handshake with {url} failed: {self.redact(text)}', hint=hint, **context)

    def capabilities(self) -> str:
        """The root page text, read once; capability checks are substring tests like the official client."""
        if self._capabilities is None:
            response = self._send_retrying('GET', '/')
            if response.status_code in NO_SUCH_ROUTE:  # every Shaken Fist serves its root page, to anyone
                raise self._not_the_api(response, 'GET', '/')
            if response.status_code != 200:
                self._raise_for(response, 'GET', '/')
            self._capabilities = response.text
        return self._capabilities

    def _send_retrying(self, method: str, path: str, **kwargs: Any) -> Any:
        """For requests that are always safe to repeat outside request()'s loop (POST /auth, GET /): retried after
        a lost connection, a timeout or a 502/503/504, like any idempotent request."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, path, authenticated=False, **kwargs)
            except (SfTransportError, SfTimeout) as exc:
                if attempt > self.settings.retries or isinstance(exc, SfCertificateError):
                    raise
                self._backoff(attempt, f'{method} {path}: {exc.message}')
                continue
            # 406: not ready yet, which POST /auth never means; retried like elsewhere rather than failing at once.
            if response.status_code in RETRY_STATUSES + (406,) and attempt <= self.settings.retries:
                self._backoff(attempt, f'{method} {path}: HTTP {response.status_code}')
                continue
            return response

    def authenticate(self) -> None:
        body = {'namespace': self.settings.namespace, 'key': self.settings.key}
        response = self._send_retrying('POST', '/auth', json=body)
        status = response.status_code
        if status != 200:
            # Shaken Fist answers a wrong key 401, and an unknown namespace 404 in its own {"error", "status"}
            # words; any other 404 (or a 405) came from something that has no such route: api_url is wrong.
            refusal = _sf_error(response)
            if status == 401 or (status == 404 and refusal is not None):
                reason = f': {self.redact(refusal)}' if status == 404 and refusal else ''
                raise SfUnauthenticated(
                    f'authentication as namespace {self.settings.namespace!r} failed{reason}',
                    status=status, method='POST', path='/auth', request_id=response.headers.get('X-Request-ID'))
            if status in NO_SUCH_ROUTE:
                raise self._not_the_api(response, 'POST', '/auth')
            self._raise_for(response, 'POST', '/auth')
        try:
            answer = response.json()
        except ValueError:  # a web page, not a token: something other than the API answered
            raise self._not_the_api(response, 'POST', '/auth') from None
        try:
            self._token = answer['access_token']
        except (KeyError, TypeError):
            raise SfUnauthenticated('the server answered POST /auth without an access token',
                                    status=response.status_code, method='POST', path='/auth') from None

    def _not_the_api(self, response: Any, method: str, path: str) -> SfInvalidInput:
        """An answer no Shaken Fist API gives (a 404 that is not its own, a web page for a token): api_url leads
        somewhere else, typically a wrong path. invalid_input, never not_found: callers read not_found as a missing
        object, which would hide the wrong setting."""
        url = self._url(path)
        return SfInvalidInput(
            f'no Shaken Fist API at api_url {self.base_url}: {method} {url} answered HTTP {response.status_code} '
            f'({self.redact(_summarise_body(response.text))})', status=response.status_code, method=method, path=path,
            request_id=response.headers.get('X-Request-ID'), hint=API_URL_HINT)

    def request(
        self,
        method: str,
        template: str,
        *segments: Any,
        json: Any = None,
        params: Optional[Dict[str, Any]] = None,
        data: Any = None,
        headers: Optional[Dict[str, str]] = None,
        idempotent: Optional[bool] = None,
        stream: bool = False,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        not_ready_deadline: float = NOT_READY_DEADLINE,
        parse: Optional[Callable[[Any], Any]] = None,
    ) -> Any:
        """Send one API request and return its decoded JSON (or the response when stream=True).

        idempotent: whether repeating the request is harmless. GET/HEAD/PUT are; a POST or DELETE is retried
        after an unknown outcome only when the domain layer says a repeat cannot change the result.
        parse: turns the decoded JSON into what the caller wants (a model); anything it raises means the server
        answered something this collection cannot read, which becomes a typed server_error naming the request.
        """
        method = method.upper()
        path = build_path(template, *segments)
        if method not in READ_METHODS:
            if self.read_only:
                raise SfCheckModeWrite(f'refusing to send {method} {path} in check mode', method=method, path=path)
            self.write_count += 1
        if idempotent is None:
            idempotent = method in READ_METHODS or method == 'PUT'
        attempts = self.settings.retries if retries is None else retries
        started = time.monotonic()
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            if self._token is None:
                self.authenticate()
            try:
                response = self._send(method, path, json=json, params=params, data=data, headers=headers,
                                      stream=stream, timeout=timeout)
            except (SfTransportError, SfTimeout) as exc:
                # A refused connection never reached the server: always safe to repeat. A timeout or a connection
                # lost after sending is an unknown outcome: repeated only when repeating cannot change the result
                # (reads, and writes the domain marks idempotent); other writes are checked by the domain.
                safe = idempotent or bool(isinstance(exc.detail, dict) and exc.detail.get('before_send'))
                if safe and attempt <= attempts and not isinstance(exc, SfCertificateError):
                    self._backoff(attempt, f'{method} {path}: {exc.message}')
                    continue
                raise
            status = response.status_code
            if status == 401 and not reauthenticated:
                reauthenticated = True
                self.log(f'{method} {path}: token refused, authenticating again')
                self._token = None
                continue
            if status == 406:
                if time.monotonic() - started < not_ready_deadline:
                    self._backoff(min(attempt, 3), f'{method} {path}: not ready yet')
                    continue
                self._raise_for(response, method, path, error_class=SfNotReady)
            # A 502/503/504 is transient; a 500 on a read is a server bug that repeats (0.7.2 has several), but on a
            # write that is safe to repeat it may be a passing failure, and repeating it cannot change the result.
            transient = status in RETRY_STATUSES or (status == 500 and method not in READ_METHODS)
            if transient and idempotent and attempt <= attempts:
                self._backoff(attempt, f'{method} {path}: HTTP {status}')
                continue
            if status not in (200, 202):
                self._raise_for(response, method, path)
            if stream:
                return response
            decoded = self._decode(response, method, path)
            if parse is None:
                return decoded
            try:
                return parse(decoded)
            except Exception as exc:  # any failure to read an answer is one typed error
                raise SfServerError(
                    f'{method} {path}: the server answered {status} with data this collection cannot read: '
                    f'{self.redact(_describe_parse_error(exc))}', status=status, method=method, path=path,
                    request_id=response.headers.get('X-Request-ID'),
                    hint='the server may be a version this collection does not support; see docs/compatibility.md',
                ) from None

    def _backoff(self, attempt: int, reason: str) -> None:
        delay = backoff_delay(attempt)
        self.log(f'{reason}; retrying in {delay:.2f}s (attempt {attempt})')
        self._sleep(delay)

    def pause(self, attempt: int, reason: str, cap: float = MAX_BACKOFF, base: float = BACKOFF_BASE) -> None:
        """Sleep on the shared backoff schedule: for callers that retry or poll at the domain level."""
        delay = backoff_delay(attempt, cap, base)
        self.log(f'{reason}; next try in {delay:.2f}s')
        self._sleep(delay)

    def body(self, response: Any, url: Optional[str] = None) -> Body:
        """The body of a streamed answer, read into the caller's buffers; a connection lost or silent mid-body is
        a typed error (the caller knows how much arrived and can resume), never a requests exception. `url`: the
        answer is from that URL outside the API (see open_url), which the error names instead of api_url."""
        return Body(response, url or self.base_url, self.settings.timeout, hint=SOURCE_URL_HINT if url else None,
                    detail={'url': url} if url else None, reason=self._short_reason)

    def blocks(self, response: Any, size: int, url: Optional[str] = None) -> Iterator[bytes]:
        """The body of a streamed answer in blocks of `size` bytes (see body())."""
        return self.body(response, url).blocks(size)

    # URLs outside the API (controller downloads, checking a source URL): the same session, so the same TLS
    # settings, timeouts and redaction apply, but never the API token. Their errors name that URL, and hint at it
    # (not at api_url); `detail` carries it as `url`.
    def open_url(self, url: str, method: str = 'GET', headers: Optional[Dict[str, str]] = None) -> Any:
        """A streamed response from `url` (status 200 or 206), or a typed error; the caller closes it."""
        if self.session.verify is False:
            self._quiet_unverified(url)
        try:
            response = self.session.request(method, url, stream=True, timeout=self.settings.timeout,
                                            headers={'Accept': '*/*', **(headers or {})}, allow_redirects=True,
                                            verify=self.session.verify)
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc, url, DOWNLOAD_TLS_HINT, method=method) from None
        except requests.exceptions.RequestException as exc:
            raise SfTransportError(f'{method} {url} failed: {self._short_reason(str(exc))}', method=method,
                                   hint=SOURCE_URL_HINT, detail={'url': url}) from None
        if response.status_code not in (200, 206):
            response.close()
            raise error_for_status(response.status_code)(
                f'{method} {url} answered HTTP {response.status_code}', status=response.status_code, method=method,
                hint=SOURCE_STATUS_HINT, detail={'url': url})
        return response

    def _url(self, path: str) -> str:
        return self.base_url + ('' if path == '/' and self.base_url.endswith('/') else path)

    def _send(self, method: str, path: str, *, authenticated: bool = True, timeout: Optional[float] = None,
              **kwargs: Any) -> Any:
        url = self._url(path)
        headers = dict(kwargs.pop('headers', None) or {})
        if isinstance(kwargs.get('data'), memoryview):
            # A fresh body for every send: a retry or a re-authentication sends the same bytes again.
            kwargs['data'] = _ViewBody(kwargs['data'])
        if authenticated and self._token:
            headers['Authorization'] = f'Bearer {self._token}'
        self.request_count += 1
        begun = time.monotonic()
        try:
            # verify is passed on every request: requests' environment merge (REQUESTS_CA_BUNDLE) would otherwise
            # override the session's ca_path / validate_certs.
            response = self.session.request(method, url, headers=headers, timeout=timeout or self.settings.timeout,
                                            allow_redirects=False, verify=self.session.verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc, self.base_url, API_TLS_HINT, method=method, path=path) from None
        except requests.exceptions.ConnectTimeout:
            raise SfTransportError(f'timed out connecting to {self.base_url}', method=method, path=path,
                                   detail={'before_send': True}) from None
        except requests.exceptions.Timeout:
            raise SfTimeout(f'no answer from {self.base_url} within {timeout or self.settings.timeout}s',
                            method=method, path=path) from None
        except requests.exceptions.ConnectionError as exc:
            text = str(exc)
            before_send = 'refused' in text.lower() or 'Failed to establish' in text
            raise SfTransportError(f'cannot talk to {self.base_url}: {self._short_reason(text)}', method=method,
                                   path=path, detail={'before_send': before_send}) from None
        except requests.exceptions.RequestException as exc:
            raise SfTransportError(f'request to {self.base_url} failed: {self.redact(str(exc))[:300]}',
                                   method=method, path=path) from None
        self.log(f'{method} {path} -> {response.status_code} in {time.monotonic() - begun:.3f}s')
        return response

    def _short_reason(self, text: str) -> str:
        for marker in ('Connection refused', 'Name or service not known', 'Connection reset', 'timed out',
                       'Remote end closed connection', 'Connection aborted'):
            if marker.lower() in text.lower():
                return marker.lower()
        return self.redact(text)[:200]

    def _decode(self, response: Any, method: str, path: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SfServerError(f'{method} {path}: the server answered {response.status_code} with a body that is '
                                f'not JSON: {self.redact(_summarise_body(response.text))}',
                                status=response.status_code, method=method, path=path,
                                request_id=response.headers.get('X-Request-ID')) from None

    def _raise_for(self, response: Any, method: str, path: str, error_class: Optional[type] = None) -> None:
        status = response.status_code
        detail: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and 'error' in body:
            detail = body['error']
            message = detail if isinstance(detail, str) else 'request refused'
        elif isinstance(body, dict) and 'message' in body:
            message = str(body['message'])
        elif status in (301, 302, 303, 307, 308):
            message = f'unexpected redirect to {response.headers.get("Location", "?")}'
        else:
            message = _summarise_body(response.text)
        if message.startswith('server error: '):
            message = 'server error: ' + message[len('server error: '):][:300]
        cls = error_class or error_for_status(status)
        raise cls(f'{method} {path} failed: {self.redact(message)}', status=status, method=method, path=path,
                  request_id=response.headers.get('X-Request-ID'),
                  detail=detail if not isinstance(detail, str) else None)
