# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible adapter for lookups: options from ansible.cfg, variables and the environment, one error boundary,
and one client (token, artifact listing, resolutions) shared by the lookups of one templating pass."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

from ansible.errors import AnsibleLookupError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.shakenfist.storage.plugins.module_utils._client import (
    CONNECTION_OPTIONS,
    SfClient,
    client_for,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._config import (
    INSECURE_WARNING,
    ConnectionSettings,
    resolve_settings,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfError,
    SfInvalidInput,
    SfMissingLibrary,
    SfUnexpected,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import DEFAULT_IMAGE_BASE_URL
from ansible_collections.shakenfist.storage.plugins.plugin_utils._names import unknown_names
from ansible_collections.shakenfist.storage.plugins.plugin_utils._template_pass import templating_pass

display = Display()

TYPED_OPTIONS: Dict[str, Callable[[Any], Any]] = {'validate_certs': boolean, 'timeout': float, 'retries': int}
TYPE_WORDS = {'validate_certs': 'a boolean', 'timeout': 'a number of seconds', 'retries': 'a whole number'}

SHARE_TTL = 10.0
MAX_SHARED = 16
# Random per process tree: a client key printed in a log cannot be tested against guessed secrets elsewhere.
_KEY_SALT = os.urandom(16)


def client_key(settings: ConnectionSettings, image_base_url: Optional[str] = None) -> str:
    """Names everything that makes two clients different; the secret only through a salted HMAC."""
    fields = [settings.api_url, settings.namespace, settings.key, settings.validate_certs, settings.ca_path,
              settings.timeout, settings.retries, image_base_url or DEFAULT_IMAGE_BASE_URL]
    digest = hmac.new(_KEY_SALT, json.dumps(fields).encode(), hashlib.sha256).hexdigest()
    return f'sf-client-{digest[:24]}'


@dataclass
class _Shared:
    client: SfClient
    pid: int
    owners: Tuple[Any, ...]
    expires: float


class ClientCache:
    """Clients shared by the lookups of one templating pass in one process, for at most `ttl` seconds.

    Why a pass and not a task: Ansible forks one worker per task and host, yet inside it a loop runs the module once
    per item, and until/changed_when/failed_when are evaluated after the module ran (until once per attempt); a
    per-task cache would show later items and retries the world as it was before the change. ansible-core 2.19
    gives each of those evaluations its own template engine and each loop item its own variables mapping (found by
    experiment on 2.19.14), so the pair (engine, variables) marks a span in which no module runs. The main process
    templates too (play names, hosts:, task names) and forks every worker with a copy of this cache, so an entry is
    only used by the pid that made it. Entries hold their owners, so no other object can take their ids while the
    entry lives; the TTL bounds anything unforeseen.
    """

    def __init__(self, ttl: float = SHARE_TTL, size: int = MAX_SHARED,
                 clock: Callable[[], float] = time.monotonic, getpid: Callable[[], int] = os.getpid) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._getpid = getpid
        self._entries: Dict[Tuple[Any, ...], _Shared] = {}

    def get(self, key: str, owners: Tuple[Any, ...], build: Callable[[], SfClient]) -> Tuple[SfClient, bool]:
        """The shared client for `key` in the pass `owners`, building it when missing; and whether it was reused."""
        if any(owner is None for owner in owners):
            return build(), False
        now, pid = self._clock(), self._getpid()
        for slot, entry in list(self._entries.items()):
            if entry.pid != pid or entry.expires <= now:
                del self._entries[slot]
        slot = (key, pid) + tuple(id(owner) for owner in owners)
        found = self._entries.get(slot)
        if found is not None and all(held is owner for held, owner in zip(found.owners, owners)):
            return found.client, True
        client = build()
        while len(self._entries) >= self.size:
            del self._entries[min(self._entries, key=lambda s: self._entries[s].expires)]
        self._entries[slot] = _Shared(client, pid, owners, now + self.ttl)
        return client, False

    def slots(self) -> Tuple[Tuple[Any, ...], ...]:
        """What the entries are keyed by: (client key, pid, owner ids); never a secret."""
        return tuple(self._entries)

    def clear(self) -> None:
        self._entries.clear()


shared_clients = ClientCache()


class SfLookupBase(LookupBase):
    """Lookups build the same client as modules; every SfError becomes an AnsibleLookupError."""

    _client: Optional[SfClient] = None
    fqcn = 'shakenfist.storage.sf_artifact'

    def refuse_unknown_options(self, given: Mapping[str, Any]) -> None:
        """Refuse keyword options the plugin does not document, before anything is resolved: Ansible would ignore
        them, and an ignored `versoin=2` returns the newest version, not the pinned one. Only names are shown, never
        a value (it may be a key)."""
        known = sorted(name for name in self.option_definitions if not name.startswith('_'))
        unknown = unknown_names(given, known, quote=True)
        if unknown:
            raise AnsibleLookupError(f'unknown option{"s" if len(unknown) > 1 else ""} {", ".join(unknown)}; '
                                     f'the options of {self.fqcn} are {", ".join(known)}')

    def client(self, variables: Optional[Mapping[str, Any]] = None) -> SfClient:
        """The client for this call's settings, shared with the other lookups of the same templating pass."""
        if self._client is None:
            options: Dict[str, Any] = {name: self.rendered_option(name) for name in CONNECTION_OPTIONS}
            image_base_url = self.rendered_option('image_base_url')
            settings = resolve_settings(options)
            key = client_key(settings, image_base_url)
            try:
                self._client, reused = shared_clients.get(
                    key, (templating_pass(), variables),
                    lambda: client_for(settings, log=display.vvvv, image_base_url=image_base_url))
            except SfMissingLibrary as exc:
                raise AnsibleLookupError(f'{exc.message}: install it on the controller') from None
            display.vvvv(f'shakenfist.storage: {"reusing" if reused else "new"} client {key}')
            if not settings.validate_certs and not reused:
                display.warning(f'shakenfist.storage.sf_artifact: {INSECURE_WARNING}')
        return self._client

    def rendered_option(self, name: str) -> Any:
        # Options taken from variables arrive unrendered (shakenfist_api_url: "{{ sf_url }}"), so the non-string
        # ones are declared raw and get their type here, after rendering.
        value = self.get_option(name)
        if isinstance(value, str) and self._templar is not None and self._templar.is_template(value):
            value = self._templar.template(value)
        if name in TYPED_OPTIONS and value is not None:
            try:
                value = TYPED_OPTIONS[name](value)
            except (TypeError, ValueError, OverflowError):
                raise SfInvalidInput(f'{name} must be {TYPE_WORDS[name]}, got {value!r}') from None
        return value

    def redact(self, text: str) -> str:
        return self._client.transport.redact(text) if self._client else text

    @contextlib.contextmanager
    def boundary(self, term: str) -> Iterator[None]:
        """The one error boundary of a lookup: typed errors and anything unexpected become a clean, redacted
        AnsibleLookupError naming the term, never a traceback."""
        try:
            yield
        except AnsibleLookupError:
            raise
        except SfError as exc:
            raise self.lookup_error(term, exc) from None
        except Exception as exc:  # the last resort
            raise self.lookup_error(term, SfUnexpected.wrap(exc)) from None

    def lookup_error(self, term: str, exc: SfError) -> AnsibleLookupError:
        message = f'resolve {term!r} failed: {exc}'
        if exc.hint:
            message += f' ({exc.hint})'
        return AnsibleLookupError(self.redact(message))
