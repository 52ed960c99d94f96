# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
name: unknown_vars
short_description: The variables a role does not know, each with the name it most likely means
version_added: 0.2.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Given variable names (usually every variable with a role's prefix, from C(ansible.builtin.varnames)), returns
    those that are neither in O(known) nor in O(internal), sorted, each followed by C((did you mean <name>?)) when a
    name of O(known) is close to it.
  - Role argument specs cannot see a variable they do not list, so a misspelled one is silently ignored and the role
    runs without it. The collection's roles, C(shakenfist.storage.image_catalog) and
    C(shakenfist.storage.snapshot_schedule), use this filter in their first task to refuse such variables; your own
    roles can do the same.
positional: known
options:
  _input:
    description: The variable names to check.
    type: list
    elements: str
    required: true
  known:
    description: The variables the role documents. They are accepted, suggested and may be listed to the user.
    type: list
    elements: str
    required: true
  internal:
    description: Names the role sets itself (facts, registered results). They are accepted but never suggested.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Refuse myrole_ variables the role does not know
  ansible.builtin.assert:
    quiet: true
    that: myrole__unknown | length == 0
    fail_msg: >-
      Unknown variable {{ myrole__unknown | join(', ') }}; the variables of myrole are
      {{ myrole__options | join(', ') }}.
  vars:
    myrole__options: [myrole_images, myrole_labels]
    myrole__unknown: >-
      {{ query('ansible.builtin.varnames', '^myrole_')
         | shakenfist.storage.unknown_vars(myrole__options, internal=['myrole__options', 'myrole__unknown']) }}
  # With myrole_label set: "Unknown variable myrole_label (did you mean myrole_labels?); ..."
'''

RETURN = r'''
_value:
  description:
    - One entry per unknown name, sorted, for example V(myrole_label (did you mean myrole_labels?)) or, when no
      known name is close, the bare name. Empty when every name is known.
  type: list
  elements: str
'''

from typing import Any, Callable, Dict, Iterable, List  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.plugin_utils._names import unknown_names  # noqa: E402


def _names(value: Any, what: str) -> List[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise AnsibleFilterError(f'shakenfist.storage.unknown_vars: {what} must be a list of names, '
                                 f'got {type(value).__name__}')
    names = list(value)
    if not all(isinstance(name, str) for name in names):
        raise AnsibleFilterError(f'shakenfist.storage.unknown_vars: {what} must be a list of names')
    return names


def unknown_vars(names: Any, known: Any, internal: Any = ()) -> List[str]:
    return unknown_names(_names(names, 'the input'), _names(known, 'known'), _names(internal, 'internal'))


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {'unknown_vars': unknown_vars}
