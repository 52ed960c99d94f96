# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place the collection uses a private ansible-core API: which templating pass is running a lookup.

Why private: ansible-core 2.19+ has no public handle on the templating pass running a lookup (each lookup is given
its own copy of the template engine); its private TemplateContext is the only one. So it is used with care:
imported by name, its shape checked, and nothing else of it touched.

What happens if it is missing (ansible-core 2.18) or no longer shaped as expected (a future ansible-core):
`templating_pass()` answers None and -vvvv says why; lookups then share no client, so each call builds its own,
which is slower but never stale. Nothing fails.
"""

from __future__ import annotations

import importlib
from typing import Any

from ansible.utils.display import Display

display = Display()

TEMPLATE_CONTEXT_MODULE = 'ansible._internal._templating._utils'


def template_context_class() -> Any:
    """ansible-core's private TemplateContext when it is there and has the expected shape, else None."""
    try:
        module = importlib.import_module(TEMPLATE_CONTEXT_MODULE)
    except ImportError:
        return None
    context_class = getattr(module, 'TemplateContext', None)
    return context_class if callable(getattr(context_class, 'current', None)) else None


def _note_no_pass(reason: str) -> None:
    display.vvvv(f'shakenfist.storage: lookups share no client: {reason}; each call builds its own')


def templating_pass() -> Any:
    """The template engine of the templating pass running this lookup, or None when it cannot be known."""
    context_class = template_context_class()
    if context_class is None:
        _note_no_pass(f'this ansible-core has no {TEMPLATE_CONTEXT_MODULE}.TemplateContext.current')
        return None
    try:
        context = context_class.current(optional=True)
    except Exception as exc:  # a private API that changed: share nothing rather than fail a lookup
        _note_no_pass(f'{TEMPLATE_CONTEXT_MODULE}.TemplateContext.current failed ({type(exc).__name__})')
        return None
    if context is None:
        return None  # outside any template (a direct call): there is no pass, and nothing is missing
    engine = getattr(context, 'templar', None)
    if engine is None:
        _note_no_pass(f'{TEMPLATE_CONTEXT_MODULE}.TemplateContext has no templar')
    return engine
