# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: every task's status, and every result of a shakenfist.storage module, written to the file
E(SF_RESULTS_FILE)."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: sf_results
type: aggregate
short_description: Record every shakenfist.storage module result (integration tests only)
description:
  - Writes, at the end of the play, every result a C(shakenfist.storage) module returned (each loop item on its
    own, failed ones too) with the task name and whether it ran in check mode, as JSON to E(SF_RESULTS_FILE).
  - Also the play, name, action and status of every task and host (loops once per task), with the message and
    error of a failure, so a test can see that every task ran.
  - The integration tests compare each result's keys with the module's RETURN documentation.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
'''

PREFIX = 'shakenfist.storage.'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'sf_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.play = ''

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self.play = play.get_name()

    def _task(self, result: Any, status: str) -> None:
        task, data = result._task, result._result
        failed = status in ('failed', 'ignored')
        self.tasks.append({'play': self.play, 'name': task.get_name(),
                           'action': str(getattr(task, 'resolved_action', None) or task.action or ''),
                           'status': status, 'msg': str(data.get('msg', '')) if failed else '',
                           'error': data.get('error') if failed else None})

    def _record(self, result: Any, status: str, item: bool = False) -> None:
        task = result._task
        action = str(getattr(task, 'resolved_action', None) or task.action or '')
        if not action.startswith(PREFIX) or (not item and (task.loop is not None or task.loop_with)):
            return  # a loop's results are recorded item by item, each with its own templated check_mode
        fields = getattr(result, 'task_fields', None) or result._task_fields
        self.recorded.append({'module': action[len(PREFIX):], 'task': task.get_name(),
                              'check_mode': bool(fields.get('check_mode')), 'status': status,
                              'result': result._result})

    def v2_runner_on_ok(self, result: Any) -> None:
        self._task(result, 'changed' if result._result.get('changed') else 'ok')
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._task(result, 'ignored' if ignore_errors else 'failed')
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._task(result, 'skipped')

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._task(result, 'failed')

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._record(result, 'ok', item=True)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self._record(result, 'failed', item=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get('SF_RESULTS_FILE')
        if path:
            with open(path, 'w', encoding='utf-8') as handle:
                json.dump({'module_results': self.recorded, 'tasks': self.tasks}, handle, default=str)
