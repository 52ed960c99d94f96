# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection settings, found in the same places and order as the official Shaken Fist client.

Order: explicit values, then SHAKENFIST_API_URL / SHAKENFIST_NAMESPACE / SHAKENFIST_KEY, then ~/.shakenfist,
then /etc/sf/shakenfist.json. A setting missing everywhere is an SfInvalidInput naming every place looked at.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ._errors import SfInvalidInput
from ._refs import validate_name

ENV_VARS = {'api_url': 'SHAKENFIST_API_URL', 'namespace': 'SHAKENFIST_NAMESPACE', 'key': 'SHAKENFIST_KEY'}
# Keys used by the official client's JSON config files.
FILE_KEYS = {'api_url': 'apiurl', 'namespace': 'namespace', 'key': 'key'}
USER_CONFIG = '~/.shakenfist'
SYSTEM_CONFIG = '/etc/sf/shakenfist.json'

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 5
MAX_RETRIES = 100
MAX_TIMEOUT = 86400.0  # beyond this the platform's clock overflows in the socket layer (about 1e12 s here)
INSECURE_WARNING = ('validate_certs is false: the certificate of the Shaken Fist API is not checked, so anyone on the '
                    'network path can read the key and every answer; use ca_path instead')


@dataclass(frozen=True)
class ConnectionSettings:
    api_url: str
    namespace: str
    key: str = field(repr=False)
    validate_certs: bool = True
    ca_path: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    sources: Dict[str, str] = field(default_factory=dict)


def _read_config_file(path: str) -> Dict[str, Any]:
    expanded = os.path.expanduser(path)
    if not os.path.isfile(expanded):
        return {}
    try:
        with open(expanded, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SfInvalidInput(f'cannot read Shaken Fist client configuration {path}: {exc.__class__.__name__}') from None
    if not isinstance(data, dict):
        raise SfInvalidInput(f'Shaken Fist client configuration {path} is not a JSON object')
    return data


def resolve_settings(
    explicit: Mapping[str, Any],
    environ: Optional[Mapping[str, str]] = None,
    config_files: Optional[List[str]] = None,
) -> ConnectionSettings:
    """Merge explicit options with the official client's sources, first found wins."""
    environ = os.environ if environ is None else environ
    files = [USER_CONFIG, SYSTEM_CONFIG] if config_files is None else config_files
    loaded: Dict[str, Dict[str, Any]] = {}  # path -> what it holds, each file read once
    values: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for name in ('api_url', 'namespace', 'key'):
        value = explicit.get(name)
        source = 'task option'
        if value in (None, ''):
            value, source = environ.get(ENV_VARS[name]), ENV_VARS[name]
        if value in (None, ''):
            for path in files:
                if path not in loaded:
                    loaded[path] = _read_config_file(path)
                if loaded[path].get(FILE_KEYS[name]) not in (None, ''):
                    value, source = loaded[path][FILE_KEYS[name]], path
                    break
        if value in (None, ''):
            places = ', '.join([f'option {name}', ENV_VARS[name]] + files)
            raise SfInvalidInput(f'no Shaken Fist {name} given; looked in: {places}')
        values[name] = str(value)
        sources[name] = source

    validate_name(values['namespace'], 'namespace')
    api_url = values['api_url'].rstrip('/')
    if not api_url.startswith(('http://', 'https://')):
        raise SfInvalidInput(f'api_url must start with http:// or https://, got {api_url!r}')
    try:
        timeout = explicit.get('timeout')
        timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        retries = explicit.get('retries')
        retries = DEFAULT_RETRIES if retries is None else int(retries)
    except (OverflowError, TypeError, ValueError):
        raise SfInvalidInput('timeout must be a number of seconds and retries a whole number') from None
    if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        raise SfInvalidInput(f'timeout must be a positive number of seconds, at most {MAX_TIMEOUT:.0f} (a day)')
    if retries < 0 or retries > MAX_RETRIES:
        raise SfInvalidInput(f'retries must be between 0 and {MAX_RETRIES}')
    ca_path = explicit.get('ca_path') or None
    if ca_path and not os.path.exists(os.path.expanduser(ca_path)):
        raise SfInvalidInput(f'ca_path {ca_path} does not exist',
                             hint='give the PEM file (or directory) of the CA that signs the cluster certificate')
    validate_certs = explicit.get('validate_certs')
    return ConnectionSettings(
        api_url=api_url,
        namespace=values['namespace'],
        key=values['key'],
        validate_certs=True if validate_certs is None else bool(validate_certs),
        ca_path=os.path.expanduser(ca_path) if ca_path else None,
        timeout=timeout,
        retries=retries,
        sources=sources,
    )
