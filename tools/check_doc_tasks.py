"""Check that every shakenfist.storage task shown in the Markdown pages is valid for the modules as they are.

Each fenced `yaml` block of README.md, docs/*.md and the roles' and emulator's READMEs is parsed; every task that
calls `shakenfist.storage.<module>` (directly, in a block, or as a play's task) must name a module that exists and
use only its documented options (connection options included), with values from `choices` where the option has
them. Templated values (`{{ ... }}`) are not checked against choices.

Usage: python tools/check_doc_tasks.py [ROOT]. Prints one line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

PREFIX = 'shakenfist.storage.'
BLOCK = re.compile(r'^```ya?ml\n(.*?)^```', re.MULTILINE | re.DOTALL)
TASK_LISTS = ('tasks', 'pre_tasks', 'post_tasks', 'handlers', 'block', 'rescue', 'always')


def doc_string(path: Path, name: str) -> str:
    for node in ast.parse(path.read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                        for t in item.targets):
                    return ast.literal_eval(item.value)
    raise LookupError(f'{name} not found in {path}')


def module_options(root: Path) -> dict[str, dict[str, Any]]:
    """Module name -> its options (own and from doc fragments)."""
    fragments = root / 'plugins' / 'doc_fragments'
    result: dict[str, dict[str, Any]] = {}
    for path in sorted((root / 'plugins' / 'modules').glob('*.py')):
        doc = yaml.safe_load(doc_string(path, 'DOCUMENTATION'))
        options = dict(doc.get('options') or {})
        for fragment in doc.get('extends_documentation_fragment') or []:
            where = fragments
            if fragment.startswith(PREFIX):
                rest = fragment[len(PREFIX):]
            else:  # ansible-core's own (ansible.builtin.files for mode/owner/group)
                import ansible  # pylint: disable=import-outside-toplevel
                where = Path(ansible.__file__).parent / 'plugins' / 'doc_fragments'
                rest = fragment.split('.', 2)[-1]
            name, _, variable = rest.partition('.')
            text = doc_string(where / f'{name}.py', (variable or 'documentation').upper())
            options.update(yaml.safe_load(text).get('options') or {})
        result[path.stem] = options
    return result


def tasks_in(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from tasks_in(item)
    elif isinstance(node, dict):
        yield node
        for key in TASK_LISTS:
            if key in node:
                yield from tasks_in(node[key])


def check_task(task: dict[str, Any], modules: dict[str, dict[str, Any]]) -> Iterator[str]:
    for key, args in task.items():
        if not isinstance(key, str) or not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name not in modules:
            yield f'no module {key}'
            continue
        if args is None:
            continue
        if not isinstance(args, dict):
            yield f'{key}: arguments are not a mapping'
            continue
        options = modules[name]
        for option, value in args.items():
            spec = options.get(option)
            if spec is None:
                yield f'{key}: no option {option!r}'
            elif spec.get('choices') and not _templated(value):
                values = value if isinstance(value, list) and spec.get('type') == 'list' else [value]
                for item in values:
                    if item not in spec['choices']:
                        yield f'{key}: {option}={item!r} is not one of {spec["choices"]}'


def _templated(value: Any) -> bool:
    return isinstance(value, str) and '{{' in value


def pages(root: Path) -> Iterator[Path]:
    yield root / 'README.md'
    yield from sorted((root / 'docs').glob('*.md'))
    yield from sorted(root.glob('roles/*/README.md'))
    yield root / 'emulator' / 'README.md'


def check(root: Path) -> list[str]:
    modules = module_options(root)
    problems: list[str] = []
    for page in pages(root):
        if not page.exists():
            continue
        text = page.read_text(encoding='utf-8')
        for match in BLOCK.finditer(text):
            line = text.count('\n', 0, match.start()) + 2
            try:
                parsed = yaml.safe_load(match.group(1))
            except yaml.YAMLError as exc:
                problems.append(f'{page.relative_to(root)}:{line}: not valid YAML: {exc}'.splitlines()[0])
                continue
            for task in tasks_in(parsed):
                for problem in check_task(task, modules):
                    problems.append(f'{page.relative_to(root)}:{line}: {problem}')
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1])
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f'module tasks in the documentation checked, {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
