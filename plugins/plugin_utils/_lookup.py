# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible adapter for lookups: options from ansible.cfg, variables and the environment, one error boundary."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.shakenfist.storage.plugins.module_utils._client import (
    CONNECTION_OPTIONS,
    SfClient,
    build_client,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfError, SfMissingLibrary

display = Display()


class SfLookupBase(LookupBase):
    """Lookups build the same client as modules; every SfError becomes an AnsibleLookupError."""

    _client: Optional[SfClient] = None

    def client(self) -> SfClient:
        if self._client is None:
            options: Dict[str, Any] = {name: self.rendered_option(name) for name in CONNECTION_OPTIONS}
            try:
                self._client = build_client(options, log=display.vvvv,
                                            image_base_url=self.rendered_option('image_base_url'))
            except SfMissingLibrary as exc:
                raise AnsibleLookupError(f'{exc.message}: install it on the controller') from None
        return self._client

    def rendered_option(self, name: str) -> Any:
        # Options taken from variables arrive unrendered (shakenfist_api_url: "{{ sf_url }}").
        value = self.get_option(name)
        if isinstance(value, str) and self._templar is not None and self._templar.is_template(value):
            value = self._templar.template(value)
        return value

    def redact(self, text: str) -> str:
        return self._client.transport.redact(text) if self._client else text

    def lookup_error(self, term: str, exc: SfError) -> AnsibleLookupError:
        message = f'resolve {term!r} failed: {exc}'
        if exc.hint:
            message += f' ({exc.hint})'
        return AnsibleLookupError(self.redact(message))
