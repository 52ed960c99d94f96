"""Every module, run in check mode, for real and failing, returns only keys its RETURN documents (issue 19).

The module_results target runs each module those three ways at -vvv (so `log` is returned too); the sf_results
callback records every result. The other targets are held to the same rule by test_targets.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.return_docs import module_names, undocumented_report
from tools.sfsupport.backend import backend_kind

pytestmark = pytest.mark.skipif(backend_kind() == 'real', reason='the target runs an instance (emulator only)')


def test_every_module_returns_only_documented_keys(run_target: Any) -> None:
    recorded = run_target('module_results', verbosity=3).results['module_results']
    ran = {(entry['module'], entry['check_mode'], entry['status']) for entry in recorded}
    for module in module_names():
        assert (module, True, 'ok') in ran, f'{module} did not run in check mode'
        assert (module, False, 'ok') in ran, f'{module} did not run for real'
        assert (module, False, 'failed') in ran, f'{module} did not fail once'
    assert any('log' in entry['result'] for entry in recorded), 'no result has the -vvv log'
    assert undocumented_report(recorded) == [], '\n'.join(undocumented_report(recorded))
