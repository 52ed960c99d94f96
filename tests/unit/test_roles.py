"""The roles' lists of accepted variables (vars/main.yml) cannot drift from what they document and what they set.

Each role's first task refuses every variable with its prefix that is not in those lists, so a documented variable
missing from them would be refused, and a name the role sets but does not list would fail the role's second run in a
play (facts and registered results stay set)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ['image_catalog', 'snapshot_schedule']
SET_FACT = ('ansible.builtin.set_fact', 'set_fact')


def load(role: str, path: str) -> Any:
    return yaml.safe_load((ROOT / 'roles' / role / path).read_text())


def tasks(items: Any) -> Iterator[dict[str, Any]]:
    for task in items or []:
        yield task
        for section in ('block', 'rescue', 'always'):
            yield from tasks(task.get(section))


def names_the_tasks_set(role: str) -> set[str]:
    """Registered results, set_fact keys, task and block vars, loop variables."""
    names: set[str] = set()
    for path in sorted((ROOT / 'roles' / role / 'tasks').glob('*.yml')):
        for task in tasks(yaml.safe_load(path.read_text())):
            if 'register' in task:
                names.add(task['register'])
            for module in SET_FACT:
                names.update(key for key in task.get(module) or {} if key != 'cacheable')
            names.update(task.get('vars') or {})
            if 'loop_var' in (task.get('loop_control') or {}):
                names.add(task['loop_control']['loop_var'])
    return names


@pytest.mark.parametrize('role', ROLES)
def test_the_accepted_options_are_the_documented_ones(role: str) -> None:
    documented = list(load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options'])
    accepted = load(role, 'vars/main.yml')[f'{role}__options']
    assert accepted == sorted(documented), 'vars/main.yml must list the argument spec options, sorted'
    assert set(load(role, 'defaults/main.yml')) <= set(documented), 'every default must be documented'


@pytest.mark.parametrize('role', ROLES)
def test_the_internal_names_are_exactly_what_the_role_sets(role: str) -> None:
    prefix = f'{role}_'
    variables = load(role, 'vars/main.yml')
    internal = variables[f'{role}__internal']
    set_by_role = {name for name in names_the_tasks_set(role) | set(variables) if name.startswith(prefix)}
    assert set(internal) == set_by_role
    assert len(internal) == len(set(internal))
    assert not set(internal) & set(variables[f'{role}__options'])


@pytest.mark.parametrize('role', ROLES)
def test_every_prefixed_name_the_role_uses_is_accepted(role: str) -> None:
    variables = load(role, 'vars/main.yml')
    accepted = set(variables[f'{role}__options']) | set(variables[f'{role}__internal'])
    used: set[str] = set()
    for path in (ROOT / 'roles' / role).rglob('*.yml'):
        if 'meta' not in path.parts:
            used.update(re.findall(rf'\b{role}_\w+', json.dumps(yaml.safe_load(path.read_text()))))  # no comments
    assert used - accepted == set()


@pytest.mark.parametrize('role', ROLES)
def test_the_first_task_refuses_unknown_variables_whatever_the_tags(role: str) -> None:
    first = load(role, 'tasks/main.yml')[0]
    assert f"query('ansible.builtin.varnames', '^{role}_')" in first['vars'][f'{role}__unknown_vars']
    assert 'shakenfist.storage.unknown_vars' in first['vars'][f'{role}__unknown_vars']
    assert first['tags'] == ['always'] and 'when' not in first
