# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds the layered client (settings -> transport -> domain API -> resolver) for modules and lookups alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ._api import SfApi
from ._config import ConnectionSettings, resolve_settings
from ._errors import SfMissingLibrary
from ._http import SfTransport
from ._models import HAS_PYDANTIC, PYDANTIC_IMPORT_ERROR
from ._refs import DEFAULT_IMAGE_BASE_URL
from ._resolver import Resolver

CONNECTION_OPTIONS = ('api_url', 'namespace', 'key', 'validate_certs', 'ca_path', 'timeout', 'retries')


@dataclass
class SfClient:
    settings: ConnectionSettings
    transport: SfTransport
    api: SfApi
    resolver: Resolver


def build_client(
    options: Mapping[str, Any],
    *,
    log: Optional[Callable[[str], None]] = None,
    read_only: bool = False,
    image_base_url: Optional[str] = None,
) -> SfClient:
    if not HAS_PYDANTIC:
        raise SfMissingLibrary('pydantic', PYDANTIC_IMPORT_ERROR)
    settings = resolve_settings({name: options.get(name) for name in CONNECTION_OPTIONS})
    return client_for(settings, log=log, read_only=read_only, image_base_url=image_base_url)


def client_for(
    settings: ConnectionSettings,
    *,
    log: Optional[Callable[[str], None]] = None,
    read_only: bool = False,
    image_base_url: Optional[str] = None,
) -> SfClient:
    """A client for settings already resolved (the lookup resolves them first to key its shared clients)."""
    if not HAS_PYDANTIC:
        raise SfMissingLibrary('pydantic', PYDANTIC_IMPORT_ERROR)
    transport = SfTransport(settings, log=log, read_only=read_only)
    api = SfApi(transport)
    return SfClient(settings, transport, api, Resolver(api, image_base_url or DEFAULT_IMAGE_BASE_URL))
