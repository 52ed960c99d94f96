# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module options declared once, on the request dataclass a module builds from them.

Each field of a request carries its Ansible option (type, default, choices, elements, required, no_log...) as
metadata (`option()`); the module's argument spec and the request built from a task's parameters both come from it.
A domain object's validate() keeps only what spans several options, or what Ansible cannot check (ranges, names).
DOCUMENTATION still describes every option: ansible-test checks that it agrees with the spec.
No Ansible imports: an argument spec is plain data.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Type, TypeVar

from ._errors import SfInvalidInput

T = TypeVar('T', bound='Options')
MISSING: Any = dataclasses.MISSING
WAIT_TIMEOUT = 900  # seconds; the doc fragment shakenfist.storage.wait documents it


class Declared(NamedTuple):
    name: Optional[str]  # the option's name, when it is not the field's
    within: Optional[str]  # the dict option this one is a suboption of
    spec: Dict[str, Any]
    unset: bool  # whether an unset option (None) leaves the field at its default
    convert: Optional[Callable[[Any], Any]]  # the field's value of a given option value (units, for one)


def option(default: Any = MISSING, *, name: Optional[str] = None, within: Optional[str] = None,
           unset: Any = MISSING, convert: Optional[Callable[[Any], Any]] = None, **spec: Any) -> Any:
    """A request field that is a module option. `default` is the option's default and (through `convert`) the
    field's; `unset` is the field's default for an option without one. A required option's field has no default."""
    # A dataclass body calls this, so the fields are made where pylint cannot see it.
    # pylint: disable=invalid-field-call
    if default is not MISSING:
        spec['default'] = list(default) if isinstance(default, tuple) else default
        if convert is not None:
            default = convert(default)
    fallback = default if default is not MISSING else unset if unset is not MISSING else (
        MISSING if spec.get('required') else None)
    metadata = {'option': Declared(name, within, spec, unset is not MISSING, convert)}
    if isinstance(fallback, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: copy.copy(fallback), metadata=metadata)
    return dataclasses.field(default=fallback, metadata=metadata)


def wait_option() -> Any:
    return option(True, type='bool')


def check_wait_timeout(seconds: float) -> None:
    """The one rule for a wait_timeout option: a positive number of seconds."""
    if seconds <= 0:
        raise SfInvalidInput('wait_timeout must be a positive number of seconds')


def wait_timeout_option(default: int = WAIT_TIMEOUT) -> Any:
    """In seconds. A module that waits for something else passes (and documents) its own default."""
    return option(default, type='int')


class Options:
    """The base of a request dataclass whose fields are declared with option()."""

    @classmethod
    def argument_spec(cls) -> Dict[str, Any]:
        spec: Dict[str, Any] = {}
        for found in dataclasses.fields(cls):  # type: ignore[arg-type]
            declared: Optional[Declared] = found.metadata.get('option')
            if declared is not None:
                target = spec.setdefault(declared.within, {'type': 'dict', 'options': {}})['options'] \
                    if declared.within else spec
                target[declared.name or found.name] = copy.deepcopy(declared.spec)
        return spec

    @classmethod
    def from_params(cls: Type[T], params: Mapping[str, Any]) -> T:
        """The request of a task's parameters (as Ansible validated them against argument_spec())."""
        values: Dict[str, Any] = {}
        for found in dataclasses.fields(cls):  # type: ignore[arg-type]
            declared: Optional[Declared] = found.metadata.get('option')
            source = params.get(declared.within) if declared and declared.within else params
            if declared is None or source is None:  # not an option, or in a dict option left unset
                continue
            value = source.get(declared.name or found.name)
            if value is not None and declared.convert is not None:
                value = declared.convert(value)
            if value is not None or not declared.unset:
                values[found.name] = value
        return cls(**values)
