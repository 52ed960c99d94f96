"""The one error boundary of every module: typed errors, partial plans and anything unexpected all end as a clean
failure with a message, a hint and a structured `error`, with no traceback and no secret in it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Plan
from ansible_collections.shakenfist.storage.tests.unit.plugins.ansible_compat import patch_module_args

KEY = 'super-secret-key-42'
CONNECTION = {'api_url': 'http://127.0.0.1:9', 'namespace': 'ci', 'key': KEY}


def run(module_class: type, capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    with patch_module_args({**CONNECTION, **args}), pytest.raises(SystemExit):
        module_class()()
    return dict(json.loads(capsys.readouterr().out))


class Crashes(SfModule):
    activity = 'crash on purpose'

    def run(self) -> None:
        raise KeyError(f'no such field (key was {KEY})')


class Refuses(SfModule):
    activity = 'refuse'

    def run(self) -> None:
        raise SfInvalidInput('that will not do', hint='do something else', detail={'echo': f'Bearer {KEY}'})


class HalfDone(SfModule):
    activity = 'two steps'

    def run(self) -> None:
        plan = Plan()
        plan.add('first', 'do the first thing', lambda step: None)
        plan.add('second', 'do the second thing', lambda step: dict[str, None]()['missing'])
        plan.add('third', 'do the third thing', lambda step: None)
        self.apply(plan)


def test_anything_unexpected_is_a_clean_failure(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(Crashes, capsys)
    assert result['failed'] and result['msg'].startswith('crash on purpose failed: unexpected KeyError')
    assert result['error']['type'] == 'internal_error' and 'bug' in result['error']['hint']
    assert KEY not in json.dumps(result) and 'Traceback' not in json.dumps(result)


def test_typed_errors_keep_their_hint_and_redact_the_structured_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(Refuses, capsys)
    assert result['msg'] == 'refuse failed: that will not do' and result['error']['hint'] == 'do something else'
    assert result['error']['type'] == 'invalid_input' and KEY not in json.dumps(result)


def test_a_failing_step_reports_the_steps_that_ran(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(HalfDone, capsys)
    assert result['failed'] and result['changed'] and result['error']['type'] == 'internal_error'
    statuses = [(s['step'], s['status']) for s in result['plan']]
    assert statuses == [('first', 'done'), ('second', 'failed'), ('third', 'not run')]
    assert result['actions'] == ['do the first thing']


def test_check_mode_runs_no_step(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(HalfDone, capsys, _ansible_check_mode=True)
    assert not result.get('failed') and result['changed']
    assert result['actions'] == ['would do the first thing', 'would do the second thing', 'would do the third thing']
    assert {s['status'] for s in result['plan']} == {'planned'}


class Echoes(SfModule):
    activity = 'echo'

    def run(self) -> None:
        self.client.transport._token = 'a-bearer-token-0123456789'
        plan = Plan()

        def step(taken: Any) -> None:
            taken.result = f'the server said: key {KEY}, Authorization: Bearer a-bearer-token-0123456789'

        plan.add('echo', 'ask the server', step)
        plan.warnings.append(f'the server echoed {KEY}')
        self.apply(plan)


def test_every_string_of_a_result_is_redacted(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, text: warned.append(text))
    result = run(Echoes, capsys)
    text = json.dumps(result) + json.dumps(warned)
    assert warned and '********' in warned[0]
    assert not result.get('failed') and KEY not in text and 'a-bearer-token-0123456789' not in text
    assert '********' in result['actions'][0] and '********' in result['plan'][0]['action']


class Counts(SfModule):
    activity = 'count'
    argument_spec = {'count': {'type': 'int'}}

    def run(self) -> None:
        self.result['count'] = self.params['count']


@pytest.mark.parametrize('value', [float('inf'), float('-inf'), 'inf', '-Infinity'])
def test_an_infinite_number_for_an_int_option_is_a_clean_failure(
        capsys: pytest.CaptureFixture[str], value: Any) -> None:
    # ansible-core's own int conversion overflows on these (OverflowError) before the module's code runs.
    result = run(Counts, capsys, count=value)
    assert result['failed'] and result['msg'].startswith('count failed: option count must be a whole number')
    assert result['error']['type'] == 'invalid_input' and 'Traceback' not in json.dumps(result)


def test_validate_certs_false_warns(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest Ansible sends module warnings to the controller's display, so record what the module warns.
    warned: list[str] = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, text: warned.append(text))
    result = run(Counts, capsys, count=3, validate_certs=False)
    assert result['count'] == 3 and any('validate_certs is false' in text for text in warned)
    warned.clear()
    run(Counts, capsys, count=3)
    assert warned == []
