# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions over reference strings: parsing, canonical forms, artifact names, upstream shorthands.

See docs/name-resolution.md for the rule these implement. Nothing here talks to the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from ._errors import SfInvalidInput

UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', re.IGNORECASE)
SHA512_RE = re.compile(r'^[0-9a-f]{128}$')
# The server's own rule (images.py): shorthands without a `/` that start with these go to the image mirror.
UPSTREAM_PREFIXES = ('centos', 'debian', 'fedora', 'rocky', 'ubuntu')
CIRROS_PREFIX = 'cirros'
DEFAULT_IMAGE_BASE_URL = 'https://images.shakenfist.com/'
CIRROS_BASE_URL = 'https://download.cirros-cloud.net/'

KINDS = ('label', 'upload', 'artifact', 'snapshot', 'blob', 'url', 'namespaced', 'instance_disk', 'bare')


@dataclass(frozen=True)
class ParsedRef:
    """What a reference string says, before any lookup."""

    kind: str
    text: str
    namespace: Optional[str] = None
    name: Optional[str] = None
    uuid: Optional[str] = None
    url: Optional[str] = None


def is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def _two_parts(text: str, rest: str, form: str) -> tuple:
    parts = rest.split('/')
    if len(parts) != 2 or not all(parts):
        raise SfInvalidInput(f'reference {text!r} must look like {form}')
    return parts[0], parts[1]


def _one_uuid(text: str, rest: str, form: str) -> str:
    if not is_uuid(rest):
        raise SfInvalidInput(f'reference {text!r} must look like {form} with a UUID')
    return rest.lower()


def parse_ref(text: str, caller_namespace: str) -> ParsedRef:
    """Classify a reference; raises SfInvalidInput for malformed explicit forms."""
    if not isinstance(text, str) or not text.strip():
        raise SfInvalidInput('a reference must be a non-empty string')
    text = text.strip()
    if text.startswith('sf://'):
        scheme, _sep, rest = text[len('sf://'):].partition('/')
        if scheme == 'label':
            ns, name = _two_parts(text, rest, 'sf://label/<namespace>/<name>')
            return ParsedRef('label', text, namespace=ns, name=name)
        if scheme == 'upload':
            ns, name = _two_parts(text, rest, 'sf://upload/<namespace>/<name>')
            return ParsedRef('upload', text, namespace=ns, name=name)
        if scheme in ('artifact', 'snapshot', 'blob'):
            return ParsedRef(scheme, text, uuid=_one_uuid(text, rest, f'sf://{scheme}/<uuid>'))
        if scheme == 'instance':
            instance, device = _two_parts(text, rest, 'sf://instance/<instance uuid>/<device>')
            return ParsedRef('instance_disk', text, name=f'{instance}/{device}', uuid=_one_uuid(text, instance, 'x'))
        raise SfInvalidInput(f'unknown reference scheme in {text!r}; expected sf://label/, sf://upload/, '
                             'sf://artifact/, sf://snapshot/ or sf://blob/')
    if text.startswith(('http://', 'https://')):
        return ParsedRef('url', text, url=text)
    if '://' in text:
        raise SfInvalidInput(f'unsupported URL scheme in {text!r}; only http(s):// and sf:// are understood')
    if text.startswith('label:'):
        name = text[len('label:'):]
        if not name or '/' in name:
            raise SfInvalidInput(f'reference {text!r} must look like label:<name> (a label in your namespace)')
        return ParsedRef('label', text, namespace=caller_namespace, name=name)
    if is_uuid(text):
        return ParsedRef('artifact', text, uuid=text.lower())
    if '/' in text:
        first, second = _two_parts(text, text, '<namespace>/<name>')
        if is_uuid(first):
            # Snapshot artifacts are named <instance uuid>/<device>.
            return ParsedRef('instance_disk', text, name=f'{first.lower()}/{second}', uuid=first.lower())
        return ParsedRef('namespaced', text, namespace=first, name=second)
    return ParsedRef('bare', text, name=text)


def artifact_name(source_url: str) -> str:
    """The name the server gives an artifact, derived from its source_url (the view has no name field)."""
    for prefix in ('sf://label/', 'sf://upload/'):
        if source_url.startswith(prefix):
            return source_url[len(prefix):].split('/', 1)[-1]
    if source_url.startswith('sf://instance/'):
        return source_url[len('sf://instance/'):]
    return source_url.rstrip('/').rsplit('/', 1)[-1]


def label_url(namespace: str, name: str) -> str:
    return f'sf://label/{namespace}/{name}'


def upload_url(namespace: str, name: str) -> str:
    return f'sf://upload/{namespace}/{name}'


def is_upstream_shorthand(name: str) -> bool:
    """Whether the server would fetch this bare name from the upstream image mirror."""
    return '/' not in name and name.startswith(UPSTREAM_PREFIXES + (CIRROS_PREFIX,))


def upstream_url(name: str, image_base_url: str = DEFAULT_IMAGE_BASE_URL) -> Optional[str]:
    """The URL the server fetches for a shorthand, or None when it cannot be known client-side."""
    if not is_upstream_shorthand(name):
        return None
    if name.startswith(CIRROS_PREFIX):
        version = name.partition(':')[2]
        if not version:
            return None
        return f'{CIRROS_BASE_URL}{version}/cirros-{version}-x86_64-disk.img'
    base = image_base_url if image_base_url.endswith('/') else image_base_url + '/'
    return f'{base}{name}/latest.qcow2'


# Names travel as one URL path segment. Servers percent-decode the path before routing, so a `/` (even sent as
# %2F) adds a level, and HTTP clients drop `.` and `..` segments before sending, so those reach another route.
DOT_SEGMENTS = ('.', '..')


def _check_segment(value: str, what: str) -> None:
    if '/' in value:
        raise SfInvalidInput(f'{what} {value!r} must not contain "/"')
    if value in DOT_SEGMENTS:
        raise SfInvalidInput(f'{what} cannot be {value!r}: it does not survive as a URL path segment')
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SfInvalidInput(f'{what} {value!r} must not contain control characters')


def validate_name(name: str, what: str = 'name') -> str:
    """Artifact and label names: non-empty, no `/`, not `.` or `..`, no surrounding whitespace."""
    if not isinstance(name, str) or not name:
        raise SfInvalidInput(f'{what} must be a non-empty string')
    _check_segment(name, what)
    if name != name.strip():
        raise SfInvalidInput(f'{what} {name!r} must not contain whitespace at its ends')
    return name


# The largest count a server keeps exactly: integers past 2**53 lose precision in JSON, and the emulator's SQLite
# overflows at 2**63. Beyond this a write could be half-applied (a version added, then a 500 for the setting).
MAX_COUNT = 2 ** 53 - 1


def validate_count(value: Any, what: str, minimum: int, meaning: str = '', hint: Optional[str] = None) -> int:
    """An integer option that reaches the server, from `minimum` to MAX_COUNT, or invalid_input naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_COUNT:
        raise SfInvalidInput(f'{what} must be {minimum} or more{meaning}, a whole number up to {MAX_COUNT}; got '
                             f'{value!r}', hint=hint)
    return value


def validate_metadata_key(key: str) -> str:
    """A metadata key the per-key routes (PUT/DELETE .../metadata/<key>) can reach."""
    if not isinstance(key, str) or not key:
        raise SfInvalidInput('metadata keys must be non-empty strings')
    _check_segment(key, 'metadata key')
    return key


def validate_sha512(value: str) -> str:
    lowered = value.strip().lower()
    if lowered.startswith('sha512:'):
        lowered = lowered[len('sha512:'):]
    if not SHA512_RE.match(lowered):
        raise SfInvalidInput(f'{value!r} is not a sha512 checksum (128 hexadecimal characters)')
    return lowered
