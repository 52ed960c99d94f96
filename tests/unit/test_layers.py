"""The layers of plugins/module_utils (docs/architecture.md), held to the code: every import points down a layer or
stays within one, no two files import each other, only the adapter imports Ansible, and no code above the API layer
reaches into the transport."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

MODULE_UTILS = Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'
LAYERS = {
    'base': {'_errors', '_refs', '_words', '_durations', '_redaction', '_features', '_options', '_local_state',
             '_checksum', '_plan', '_direct_write'},
    'transport': {'_config', '_http', '_body', '_chunked'},
    'api': {'_models', '_filters', '_index', '_api', '_object_metadata'},
    'adapter': {'_client', '_module'},
}
ORDER = ['base', 'transport', 'api', 'domain', 'adapter']


def layer_of(name: str) -> str:
    return next((layer for layer, names in LAYERS.items() if name in names), 'domain')


def sources() -> Dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(MODULE_UTILS.glob('_*.py'))}


def imports(tree: ast.Module) -> Set[str]:
    """The module_utils files a file imports (relative imports, at any depth of the file)."""
    return {node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


GRAPH = {name: imports(tree) for name, tree in sources().items()}


def test_every_file_is_in_a_layer_and_every_named_file_exists() -> None:
    named = set().union(*LAYERS.values())
    assert named <= set(GRAPH), f'layers name files that do not exist: {sorted(named - set(GRAPH))}'


@pytest.mark.parametrize('name', sorted(GRAPH))
def test_imports_point_down(name: str) -> None:
    mine = ORDER.index(layer_of(name))
    upward = sorted(target for target in GRAPH[name] if ORDER.index(layer_of(target)) > mine)
    assert not upward, f'{name} ({layer_of(name)}) imports a higher layer: {upward}'


def test_no_import_circle() -> None:
    state: Dict[str, int] = {}

    def visit(name: str, path: List[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise AssertionError(f'import circle: {" -> ".join(cycle)}')
        state[name] = 1
        for target in sorted(GRAPH.get(name, ())):
            visit(target, path + [name])
        state[name] = 2

    for name in sorted(GRAPH):
        visit(name, [])


def test_only_the_adapter_imports_ansible_and_only_the_api_touches_the_transport() -> None:
    for name, tree in sources().items():
        ansible = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   and any(alias.name.startswith('ansible') for alias in node.names) or (
                       isinstance(node, ast.ImportFrom) and (node.module or '').startswith('ansible'))]
        assert not ansible or layer_of(name) == 'adapter', f'{name} imports Ansible'
        if layer_of(name) == 'domain':
            reach = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                     and node.attr == 'transport']
            assert not reach, f'{name} reaches into the transport (lines {reach}); use SfApi'
