"""Stand-ins for ansible-core's private TemplateContext module, for the tests of the adapter and of the lookup."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.plugin_utils import _template_pass


def private_module(monkeypatch: pytest.MonkeyPatch, context_class: Any = None) -> None:
    """Stands in for ansible-core's private module, with `context_class` as its TemplateContext (None: absent)."""
    fake = types.ModuleType(_template_pass.TEMPLATE_CONTEXT_MODULE)
    if context_class is not None:
        fake.TemplateContext = context_class  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, _template_pass.TEMPLATE_CONTEXT_MODULE, fake)


def context_of(engine: Any) -> type:
    """A TemplateContext whose current pass has `engine` as its template engine."""

    class TemplateContext:
        @classmethod
        def current(cls, optional: bool = False) -> Any:
            return types.SimpleNamespace(templar=engine)

    return TemplateContext
