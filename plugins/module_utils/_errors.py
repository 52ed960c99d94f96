# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors shared by the transport, the domain client and the resolver.

No Ansible imports here: the module and lookup boundaries turn these into fail_json / AnsibleError.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class SfError(Exception):
    """Base of every error this collection raises on purpose."""

    kind = 'error'
    default_hint: Optional[str] = None

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        method: Optional[str] = None,
        path: Optional[str] = None,
        request_id: Optional[str] = None,
        detail: Any = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.request_id = request_id
        self.detail = detail
        self.hint = hint if hint is not None else self.default_hint

    def to_dict(self) -> Dict[str, Any]:
        """The structured `error` dict returned beside `msg`."""
        return {
            'type': self.kind,
            'status': self.status,
            'method': self.method,
            'path': self.path,
            'request_id': self.request_id,
            'detail': self.detail,
            'hint': self.hint,
        }

    def __str__(self) -> str:
        text = self.message
        if self.status is not None and f'HTTP {self.status}' not in text:
            text = f'{text} (HTTP {self.status})'
        return text


class SfInvalidInput(SfError):
    kind = 'invalid_input'


class SfUnauthenticated(SfError):
    kind = 'unauthenticated'
    default_hint = 'check api_url, namespace and key (or SHAKENFIST_API_URL, SHAKENFIST_NAMESPACE, SHAKENFIST_KEY)'


class SfForbidden(SfError):
    kind = 'forbidden'


class SfNotFound(SfError):
    kind = 'not_found'


class SfAmbiguousReference(SfError):
    kind = 'ambiguous_reference'

    def __init__(self, message: str, *, candidates: List[Dict[str, Any]], hint: Optional[str] = None) -> None:
        super().__init__(message, detail={'candidates': candidates}, hint=hint)
        self.candidates = candidates


class SfConflict(SfError):
    kind = 'conflict'


class SfNotReady(SfError):
    kind = 'not_ready'


class SfServerError(SfError):
    kind = 'server_error'


class SfUnsupported(SfError):
    """The server's version cannot do this (it fails, or answers wrongly), though newer servers can."""

    kind = 'unsupported'


class SfTransportError(SfError):
    kind = 'transport_error'
    default_hint = 'check that api_url is reachable from the host running the task'


class SfCertificateError(SfTransportError):
    """The server's TLS certificate was not trusted: nothing was sent, and repeating cannot change that."""


class SfTimeout(SfError):
    kind = 'timeout'


class SfUnexpected(SfError):
    """Anything the collection did not expect (a bug, or a server answer nobody foresaw), made presentable."""

    kind = 'internal_error'
    default_hint = 'this is a bug in the shakenfist.storage collection: please report it with the task and -vvv output'

    @classmethod
    def wrap(cls, exc: BaseException) -> SfUnexpected:
        return cls(f'unexpected {exc.__class__.__name__}: {str(exc)[:300]}')


class SfCheckModeWrite(SfError):
    """A write was attempted while in check mode: a bug in the module, never a user error."""

    kind = 'check_mode_write'


class SfMissingLibrary(SfError):
    kind = 'missing_library'

    def __init__(self, library: str, import_error: Optional[str]) -> None:
        super().__init__(f'the Python library {library} is required on the host running this task')
        self.library = library
        self.import_error = import_error


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a write that failed this way may still have happened: no answer (a timeout, a connection lost
    after sending), a server error answer, or an answer that could not be read. Such writes are checked by reading
    the state again, never assumed to have failed."""
    if isinstance(exc, SfTimeout):
        return True
    if isinstance(exc, SfTransportError):
        return not (isinstance(exc.detail, dict) and exc.detail.get('before_send'))
    return isinstance(exc, SfServerError) and (exc.status is None or exc.status >= 500 or exc.status == 200)


STATUS_TO_ERROR = {
    400: SfInvalidInput,
    401: SfUnauthenticated,
    403: SfForbidden,
    404: SfNotFound,
    406: SfNotReady,
    409: SfConflict,
}


def error_for_status(status: int) -> type:
    """The error class for an HTTP status (5xx and unknown codes are server errors)."""
    return STATUS_TO_ERROR.get(status, SfServerError if status >= 500 or status < 400 else SfError)
