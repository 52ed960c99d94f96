"""The one cleanup task the cleanup concurrency tests run (as system, on the namespace a host names), and the mark
for tests that need the emulator: instances, network deletes and fault injection do not run on the real tier here."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import pytest

emulator_only = pytest.mark.skipif(os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real',
                                   reason='instances, network deletes and fault injection need the emulator')


def cleanup_task(keep_names: Optional[Sequence[str]] = None) -> str:
    """sf_namespace_cleanup of `target` with the `system_key` a host's variables give, registered as `outcome`."""
    keep = f'''
        keep:
          names: {list(keep_names)}''' if keep_names else ''
    return f'''
    - name: Clean the namespace
      shakenfist.storage.sf_namespace_cleanup:
        namespace: system
        key: "{{{{ system_key }}}}"
        target_namespace: "{{{{ target }}}}"{keep}
      register: outcome
'''
