# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin for bench/soak.py: one JSON line per task result (and per loop item) in $SOAK_RECORD_FILE.

The soak reads these lines to count outcomes and to check what each publish reported; it keeps only the fields the
report and the consistency check need, so the file stays small over a thousand tasks.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: soak_record
type: aggregate
short_description: records task results as JSON lines for bench/soak.py
description:
  - Writes one JSON line per task result and per loop item to the file named by SOAK_RECORD_FILE.
requirements:
  - enabled in callbacks_enabled
'''

# Result fields worth keeping: what the report groups by, and the evidence a failure needs.
KEEP = ('changed', 'failed', 'skipped', 'msg', 'error', 'version', 'sha512', 'reused_blob', 'uploaded_bytes',
        'resumed_bytes', 'actions', 'plan', 'warnings', 'module_stderr', 'module_stdout', 'exception', 'rc',
        'unreachable', 'false_condition', 'skip_reason')


def _op_id(item: Any) -> Any:
    """The soak op an item belongs to: the op itself, or the registered result of an earlier step for it."""
    if isinstance(item, dict):
        if 'soak_id' in item:
            return item['soak_id']
        return _op_id(item.get('item'))
    return None


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    kept = {key: data[key] for key in KEEP if key in data}
    artifact = data.get('artifact')
    if isinstance(artifact, dict):
        kept['artifact'] = {key: artifact.get(key) for key in ('uuid', 'name', 'state', 'max_versions')}
    label = data.get('label')
    if isinstance(label, dict):
        current = label.get('current') or {}
        kept['label'] = {'ref': label.get('ref'), 'uuid': label.get('uuid'), 'version': label.get('version'),
                         'current_version': current.get('version'), 'blob_uuid': label.get('blob_uuid')
                         or current.get('blob_uuid'), 'sha512': current.get('sha512')}
    for listing in ('labels', 'artifacts'):
        if isinstance(data.get(listing), list):
            kept[f'{listing}_count'] = len(data[listing])
    facts = data.get('ansible_facts')
    if isinstance(facts, dict) and isinstance(facts.get('soak_resolved'), dict):
        resolved = facts['soak_resolved']
        kept['resolved'] = {key: resolved.get(key) for key in ('ref', 'uuid', 'version', 'blob_uuid', 'sha512')}
    return kept


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'soak_record'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get('SOAK_RECORD_FILE')
        self._lock = threading.Lock()

    def _write(self, status: str, result: Any, item: bool) -> None:
        if not self._path:
            return
        data = getattr(result, 'result', None)
        if data is None:  # before ansible-core 2.19
            data = result._result
        host = getattr(result, 'host', None) or result._host
        task = getattr(result, 'task', None) or result._task
        if not item and isinstance(data.get('results'), list):
            return  # a loop's aggregate: its items were recorded one by one
        line = {'time': time.time(), 'host': host.get_name(), 'task': task.get_name(), 'status': status,
                'item': item, 'id': _op_id(data.get(data.get('ansible_loop_var', 'item'))), 'result': _summary(data)}
        with self._lock, open(self._path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(line, default=str) + '\n')

    def v2_runner_on_ok(self, result: Any) -> None:
        self._write('ok', result, item=False)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._write('failed', result, item=False)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._write('skipped', result, item=False)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._write('unreachable', result, item=False)

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._write('ok', result, item=True)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self._write('failed', result, item=True)

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        self._write('skipped', result, item=True)
