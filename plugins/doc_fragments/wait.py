# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The types and defaults of wait and wait_timeout (the spec's are in module_utils/_options.py). A module says what
    # it waits for in its own description of each, which replaces the one here.
    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Wait until the server has finished what the task asked for.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait.
    type: int
    default: 900
'''
