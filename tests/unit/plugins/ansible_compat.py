"""What the unit tests need from ansible-core, on every version the collection claims (2.18 and newer).

`make test` runs the unit tests on the pinned newest ansible-core and on the oldest claimed (requirements-oldest.txt).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19 and newer
except ImportError:  # ansible-core 2.18: AnsibleModule reads its arguments from basic._ANSIBLE_ARGS when it is set

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any] | None = None) -> Iterator[None]:
        from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

        serialized = json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode()
        with mock.patch.object(basic, '_ANSIBLE_ARGS', serialized):
            yield

try:
    from ansible.template import trust_as_template  # ansible-core 2.19 and newer
except ImportError:  # ansible-core 2.18 templates every string it is given

    def trust_as_template(value: str) -> str:
        return value


@contextlib.contextmanager
def as_module_process() -> Iterator[None]:
    """Run as a module process does. Once a test has imported the controller (the plugin loader), ansible-core 2.19
    prints module warnings to stderr instead of returning them; 2.18 has no such switch."""
    try:
        from ansible.module_utils import _internal  # pylint: disable=import-outside-toplevel
    except ImportError:
        _internal = None
    if _internal is None or not hasattr(_internal, 'is_controller'):
        yield
        return
    with mock.patch.object(_internal, 'is_controller', False):
        yield


__all__ = ['as_module_process', 'patch_module_args', 'trust_as_template']
