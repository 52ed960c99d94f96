"""What each module's RETURN documents, and the result keys a run returned that it does not."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / 'plugins' / 'modules'

# Keys Ansible itself puts in a result (or that every module's boilerplate returns): not the module's to document.
ANSIBLE_KEYS = frozenset({
    'changed', 'failed', 'msg', 'invocation', 'diff', 'warnings', 'deprecations', 'skipped', 'skip_reason',
    'skipped_reason', 'false_condition', 'exception', 'ansible_facts', 'item', 'ansible_loop_var',
    'ansible_index_var', 'ansible_loop', 'failed_when_result', 'changed_when_result', 'attempts', 'retries',
    'failed_when_suppressed_exception',  # ansible-core 2.19: the error a failed_when: false hid
    'module_stdout', 'module_stderr', 'rc', 'stdout', 'stdout_lines', 'stderr', 'stderr_lines',
})


def module_names() -> list[str]:
    return sorted(path.stem for path in MODULES.glob('sf_*.py'))


def module_doc(module: str, name: str) -> Any:
    """DOCUMENTATION, EXAMPLES or RETURN of a module, parsed, as ansible-doc reads it (from the source)."""
    tree = ast.parse((MODULES / f'{module}.py').read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == name for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise LookupError(f'{module} has no {name}')


@cache
def documented(module: str) -> frozenset[str]:
    """The top-level keys RETURN documents."""
    return frozenset(module_doc(module, 'RETURN') or {})


def undocumented(result: dict[str, Any], module: str) -> set[str]:
    """Top-level keys of a module result that are neither Ansible's own nor in the module's RETURN."""
    return {key for key in result if not key.startswith('_ansible') and key not in ANSIBLE_KEYS} - documented(module)


def undocumented_report(recorded: list[dict[str, Any]]) -> list[str]:
    """One line per module and key that some recorded result (from the sf_results callback) returned and the module's
    RETURN does not list: when (check mode, real run, failed) and a task that did."""
    found: dict[tuple[str, str], tuple[set[str], str]] = {}
    for entry in recorded:
        when = 'failed' if entry['status'] == 'failed' else 'check mode' if entry['check_mode'] else 'real run'
        for key in undocumented(entry['result'], entry['module']):
            modes, _task = found.setdefault((entry['module'], key), (set(), entry['task']))
            modes.add(when)
    return [f'{module} returned {key!r} ({", ".join(sorted(modes))}; task {task!r}), which its RETURN does not '
            'document' for (module, key), (modes, task) in sorted(found.items())]
