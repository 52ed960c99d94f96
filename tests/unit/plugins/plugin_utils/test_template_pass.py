"""The adapter for ansible-core's private TemplateContext, present or missing: it finds the templating pass when the
private API is there and shaped as expected, and otherwise answers None and says why at -vvvv, never fails.

Runs on ansible-core 2.18 and 2.19."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.shakenfist.storage.plugins.plugin_utils import _template_pass
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import trust_as_template
from ansible_collections.shakenfist.storage.tests.unit.plugins.plugin_utils.template_context import (
    context_of,
    private_module,
)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(_template_pass.display, 'vvvv', lambda message, host=None: lines.append(message))
    return lines


def test_with_the_private_context_present_the_pass_is_its_engine(monkeypatch: pytest.MonkeyPatch,
                                                                 logged: list[str]) -> None:
    engine = object()
    context_class = context_of(engine)
    private_module(monkeypatch, context_class)
    assert _template_pass.template_context_class() is context_class
    assert _template_pass.templating_pass() is engine
    assert logged == []


@pytest.mark.skipif(_template_pass.template_context_class() is None, reason='ansible-core 2.18 has no TemplateContext')
def test_with_the_real_private_context_a_template_has_a_pass() -> None:
    seen: list[Any] = []

    def record_pass(value: Any) -> Any:
        seen.append(_template_pass.templating_pass())
        return value

    templar = Templar(loader=DataLoader(), variables={})
    templar.environment.filters['record_pass'] = record_pass
    templar.template(trust_as_template("{{ 'x' | record_pass }}"))
    assert seen and seen[0] is not None
    assert _template_pass.templating_pass() is None  # outside a template there is none


def test_with_the_private_context_missing_there_is_no_pass_and_vvvv_says_why(
        monkeypatch: pytest.MonkeyPatch, logged: list[str]) -> None:
    monkeypatch.setitem(sys.modules, _template_pass.TEMPLATE_CONTEXT_MODULE, None)  # the import fails, as on 2.18
    assert _template_pass.template_context_class() is None
    assert _template_pass.templating_pass() is None
    assert logged == ['shakenfist.storage: lookups share no client: this ansible-core has no '
                      'ansible._internal._templating._utils.TemplateContext.current; each call builds its own']


@pytest.mark.parametrize('shape', ['no class', 'no current', 'current fails', 'no templar'])
def test_a_private_context_of_another_shape_means_no_pass_not_a_failure(
        shape: str, monkeypatch: pytest.MonkeyPatch, logged: list[str]) -> None:
    class TemplateContext:
        @classmethod
        def current(cls, optional: bool = False) -> Any:
            if shape == 'current fails':
                raise TypeError('current() got an unexpected keyword argument')
            return types.SimpleNamespace(engine=object())

    if shape == 'no current':
        private_module(monkeypatch, type('TemplateContext', (), {}))
    else:
        private_module(monkeypatch, None if shape == 'no class' else TemplateContext)
    assert _template_pass.templating_pass() is None
    assert len(logged) == 1 and logged[0].startswith('shakenfist.storage: lookups share no client: ')
