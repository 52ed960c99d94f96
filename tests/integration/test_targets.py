"""Every integration target runs as a playbook against the live backend and must pass, and every result a module
returned in it must keep to the keys the module's RETURN documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.return_docs import undocumented_report
from tools.sfsupport.backend import backend_kind

TARGETS = Path(__file__).resolve().parent / 'targets'


def targets() -> list[str]:
    found = []
    for path in sorted(TARGETS.iterdir()):
        aliases = (path / 'aliases').read_text().split() if (path / 'aliases').exists() else []
        if not (path / 'tasks' / 'main.yml').exists() or 'hidden' in aliases:
            continue
        if backend_kind() == 'real' and 'emulator_only' in aliases:
            continue
        found.append(path.name)
    return found


@pytest.mark.parametrize('target', targets())
def test_target(run_target, target: str) -> None:  # type: ignore[no-untyped-def]
    result = run_target(target)
    assert result.results.get('module_results'), 'the sf_results callback recorded no module result'
    assert undocumented_report(result.results['module_results']) == []
