# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A callback for tests/integration/test_examples_run.py: one JSON line per task and host, with its play, name,
action and status, in the file named by SF_EXAMPLE_RESULTS. The test reads it to see that every example task ran."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: record_tasks
type: aggregate
short_description: Record each task's status as a JSON line (tests only)
description: Writes the play, name, action and status of every task to the file named by SF_EXAMPLE_RESULTS.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_tasks'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._play = ''
        self._path = os.environ.get('SF_EXAMPLE_RESULTS', '')

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name()

    def _record(self, result: Any, status: str) -> None:
        # ansible-core 2.19 names them task and result; 2.18 only has the underscored ones.
        task = getattr(result, 'task', None) or result._task
        data = getattr(result, 'result', None)
        data = result._result if data is None else data
        entry = {'play': self._play, 'name': task.get_name(), 'action': task.resolved_action or task.action,
                 'status': status, 'msg': str(data.get('msg', '')) if status in ('failed', 'ignored') else '',
                 'error': data.get('error') if status in ('failed', 'ignored') else None}
        if self._path:
            with open(self._path, 'a', encoding='utf-8') as handle:
                handle.write(json.dumps(entry, default=str) + '\n')

    def v2_runner_on_ok(self, result: Any) -> None:
        data = getattr(result, 'result', None)
        data = result._result if data is None else data
        self._record(result, 'changed' if data.get('changed') else 'ok')

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, 'failed')
