"""Every plugin's EXAMPLES is a valid task list that uses fully qualified names and shows where the connection
comes from (module_defaults with the action group for modules, variables for the lookup)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted((ROOT / 'plugins' / 'modules').glob('*.py')) + sorted((ROOT / 'plugins' / 'lookup').glob('*.py'))
# Task keywords (not modules) that appear in the examples.
KEYWORDS = {'name', 'register', 'when', 'block', 'rescue', 'always', 'module_defaults', 'vars', 'check_mode',
            'run_once', 'loop', 'until', 'retries', 'delay', 'failed_when', 'changed_when', 'no_log',
            'ignore_errors', 'delegate_to', 'tags', 'environment', 'diff'}


def examples(path: Path) -> Any:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'EXAMPLES' for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f'{path.name} has no EXAMPLES')


def tasks(node: Any) -> Iterator[dict[str, Any]]:
    for task in node or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from tasks(task.get(key))


@pytest.mark.parametrize('path', PLUGINS, ids=lambda p: p.stem)
def test_examples_use_fqcns(path: Path) -> None:
    for task in tasks(examples(path)):
        assert task.get('name'), f'{path.stem}: every example task has a name'
        actions = [key for key in task if key not in KEYWORDS]
        if 'block' not in task:
            assert len(actions) == 1, f'{path.stem}: {task["name"]!r} has no single action: {actions}'
            assert actions[0].count('.') == 2, f'{path.stem}: {actions[0]} is not a fully qualified name'


@pytest.mark.parametrize('path', PLUGINS, ids=lambda p: p.stem)
def test_examples_show_the_connection(path: Path) -> None:
    found = list(tasks(examples(path)))
    if path.parent.name == 'lookup':
        assert any('shakenfist_api_url' in (task.get('vars') or {}) for task in found), path.stem
    else:
        defaults = [task['module_defaults'] for task in found if 'module_defaults' in task]
        assert any('group/shakenfist.storage.sf' in d for d in defaults), \
            f'{path.stem}: no example sets the connection with module_defaults and the action group'
