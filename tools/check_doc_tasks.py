"""Check that every shakenfist.storage task shown in the documentation is valid for the plugins as they are.

Each fenced `yaml` block of README.md, docs/*.md and the roles' and emulator's READMEs is parsed, and so is the
EXAMPLES block of every module and lookup plugin; every task that calls `shakenfist.storage.<module>` (directly, in a
block, or as a play's task) must name a module that exists and use only its documented options (connection options
included), with values from `choices` where the option has them. Every `lookup()`, `query()` or `q()` of a
`shakenfist.storage` lookup in them is held to the same rule for its keyword arguments. Templated values
(`{{ ... }}`) and arguments that are not literals are not checked against choices.

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
LOOKUP_CALL = re.compile(r'\b(?:lookup|query|q)\(\s*([\'"])' + re.escape(PREFIX) + r'(\w+)\1')
# Keyword arguments Ansible itself takes for every lookup.
LOOKUP_KEYWORDS = {'wantlist', 'errors'}


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


def module_options(root: Path, kind: str = 'modules') -> dict[str, dict[str, Any]]:
    """Plugin name -> its options (own and from doc fragments), for the modules or (kind='lookup') the lookups."""
    fragments = root / 'plugins' / 'doc_fragments'
    result: dict[str, dict[str, Any]] = {}
    for path in sorted((root / 'plugins' / kind).glob('*.py')):
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
            yield from check_option(key, option, options.get(option), value)


def check_option(where: str, option: str, spec: dict[str, Any] | None, value: Any) -> Iterator[str]:
    """One option of a task: documented, a value from its choices, and (a dict option) documented suboptions."""
    if spec is None:
        yield f'{where}: no option {option!r}'
    elif spec.get('choices') and not _templated(value):
        values = value if isinstance(value, list) and spec.get('type') == 'list' else [value]
        for item in values:
            if item not in spec['choices']:
                yield f'{where}: {option}={item!r} is not one of {spec["choices"]}'
    elif spec.get('suboptions') and isinstance(value, dict):
        for suboption, subvalue in value.items():
            yield from check_option(where, f'{option}.{suboption}', spec['suboptions'].get(suboption), subvalue)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and '{{' in value


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)


def _call_text(text: str, start: int) -> str | None:
    """The call that opens at or after start, up to its closing parenthesis (quotes respected), or None."""
    depth, quote = 0, ''
    for position in range(text.index('(', start), len(text)):
        char = text[position]
        if quote:
            quote = '' if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in '([{':
            depth += 1
        elif char in ')]}':
            depth -= 1
            if depth == 0:
                return text[start:position + 1]
    return None


def check_lookups(node: Any, lookups: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Every shakenfist.storage lookup called in the strings of node: a lookup that exists, documented keyword
    arguments, literal values within choices."""
    for text in _strings(node):
        for match in LOOKUP_CALL.finditer(text):
            name = match.group(2)
            if name not in lookups:
                yield f'no lookup {PREFIX}{name}'
                continue
            call = _call_text(text, match.start())
            try:
                parsed = ast.parse(call or '', mode='eval').body
            except SyntaxError:  # Jinja that is not Python (~, filters with arguments): only the name is checked
                continue
            if not isinstance(parsed, ast.Call):
                continue
            options = lookups[name]
            for keyword in parsed.keywords:
                if keyword.arg is None or keyword.arg in LOOKUP_KEYWORDS:  # **expanded, or Ansible's own
                    continue
                spec = options.get(keyword.arg)
                if spec is None or keyword.arg == '_terms':
                    yield f'lookup {PREFIX}{name}: no option {keyword.arg!r}'
                    continue
                try:
                    value = ast.literal_eval(keyword.value)
                except ValueError:  # a variable: its value is not known here
                    continue
                if spec.get('choices'):
                    values = value if isinstance(value, list) and spec.get('type') == 'list' else [value]
                    for item in values:
                        if item not in spec['choices']:
                            yield f'lookup {PREFIX}{name}: {keyword.arg}={item!r} is not one of {spec["choices"]}'


def problems_in(parsed: Any, modules: dict[str, dict[str, Any]], lookups: dict[str, dict[str, Any]]) -> list[str]:
    """The problems of one parsed YAML document: its module tasks, then its lookup calls."""
    found = [problem for task in tasks_in(parsed) for problem in check_task(task, modules)]
    return found + list(check_lookups(parsed, lookups))


def pages(root: Path) -> Iterator[Path]:
    yield root / 'README.md'
    yield from sorted((root / 'docs').glob('*.md'))
    yield from sorted(root.glob('roles/*/README.md'))
    yield root / 'emulator' / 'README.md'


def examples(root: Path) -> Iterator[tuple[Path, int, str]]:
    """(plugin file, line of its EXAMPLES, the EXAMPLES text) for every module and lookup plugin."""
    for kind in ('modules', 'lookup'):
        for path in sorted((root / 'plugins' / kind).glob('*.py')):
            for node in ast.parse(path.read_text(encoding='utf-8')).body:
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'EXAMPLES'
                                                        for t in node.targets):
                    yield path, node.lineno, ast.literal_eval(node.value)


def check(root: Path) -> list[str]:
    modules = module_options(root)
    lookups = module_options(root, 'lookup')
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
            for problem in problems_in(parsed, modules, lookups):
                problems.append(f'{page.relative_to(root)}:{line}: {problem}')
    for path, line, text in examples(root):
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problems.append(f'{path.relative_to(root)}:{line}: EXAMPLES is not valid YAML: {exc}'.splitlines()[0])
            continue
        for problem in problems_in(parsed, modules, lookups):
            problems.append(f'{path.relative_to(root)}:{line}: EXAMPLES: {problem}')
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1])
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f'module tasks and lookups in the documentation and EXAMPLES checked, {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
