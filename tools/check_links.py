"""Check every link in the repository's Markdown files, so no page points where a user cannot follow.

- A relative link must name a file or directory of the checkout; a `#fragment` must be a heading (GitHub's anchor
  rules) or an explicit `<a id>` of the target page.
- Any other link must be a public `https://` URL: no `http://`, `file://`, localhost or private addresses.
- No file may point at material outside the repository (the research and seed folders beside a checkout: OUTSIDE).

Usage: python tools/check_links.py [ROOT]. Prints one line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

SKIP_DIRS = {'.git', '.tmp', 'node_modules', 'output', '__pycache__', '.mypy_cache', '.pytest_cache', '.ruff_cache',
             '.ansible'}
TEXT_SUFFIXES = {'.md', '.py', '.yml', '.yaml', '.txt', '.toml', '.cfg', '.ini', '.rst'}
OUTSIDE = re.compile(r'(?:\.\./)+shared/|\bshared/(?:research|seeds)\b')
FENCE = re.compile(r'^(\s*)(```|~~~)')
INLINE_CODE = re.compile(r'(`+)(?:(?!\1).)+?\1')
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
REFERENCE = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
AUTOLINK = re.compile(r'<((?:https?|file|ftp)://[^>\s]+)>')
HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
ANCHOR_TAG = re.compile(r'<a\s+(?:id|name)="([^"]+)"')


def repo_files(root: Path, suffixes: set[str]) -> Iterator[Path]:
    for path in sorted(root.rglob('*')):
        parts = path.relative_to(root).parts
        if any(part in SKIP_DIRS or part.startswith('.venv') for part in parts[:-1]):
            continue
        if path.is_file() and path.suffix in suffixes:
            yield path


def prose_lines(text: str, keep_code: bool = False) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks (inline code removed unless keep_code), numbered from 1."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(2)
            elif match.group(2) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line if keep_code else INLINE_CODE.sub('', line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)     # links keep their text
    text = re.sub(r'<[^>]+>', '', text).replace('`', '').strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        found: set[str] = set()
        counts: dict[str, int] = {}
        for _, line in prose_lines(path.read_text(encoding='utf-8'), keep_code=True):
            match = HEADING.match(line)
            if match:
                base = slug(match.group(2))
                seen = counts.get(base, 0)
                counts[base] = seen + 1
                found.add(base if seen == 0 else f'{base}-{seen}')
            found.update(ANCHOR_TAG.findall(line))
        cache[path] = found
    return cache[path]


def check_external(url: str) -> str | None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != 'https':
        return f'not an https URL: {url}'
    host = (parsed.hostname or '').lower()
    if not host or host == 'localhost' or host.endswith(('.local', '.localhost', '.internal')):
        return f'not a public URL: {url}'
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return f'not a public URL: {url}'
    return None


def check_target(root: Path, page: Path, target: str, cache: dict[Path, set[str]]) -> str | None:
    if OUTSIDE.search(target):
        return f'points outside the repository: {target}'
    if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', target):
        if target.startswith('mailto:'):
            return None
        return check_external(target)
    path_part, _, fragment = target.partition('#')
    path_part = urllib.parse.unquote(path_part)
    if path_part.startswith('/'):
        return f'absolute path (use a relative link): {target}'
    resolved = (page.parent / path_part).resolve() if path_part else page.resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return f'leaves the repository: {target}'
    if not resolved.exists():
        return f'no such file: {target}'
    if fragment:
        if resolved.is_dir() or resolved.suffix != '.md':
            return f'anchor on something that is not a Markdown page: {target}'
        if fragment not in anchors(resolved, cache):
            return f'no heading #{fragment} in {resolved.relative_to(root.resolve())}'
    return None


def check(root: Path) -> list[str]:
    problems: list[str] = []
    cache: dict[Path, set[str]] = {}
    reported: set[tuple[Path, int]] = set()
    for page in repo_files(root, {'.md'}):
        relative = page.relative_to(root)
        for number, line in prose_lines(page.read_text(encoding='utf-8')):
            targets = LINK.findall(line) + AUTOLINK.findall(line)
            reference = REFERENCE.match(line)
            if reference:
                targets.append(reference.group(1))
            for target in targets:
                problem = check_target(root, page, target, cache)
                if problem:
                    problems.append(f'{relative}:{number}: {problem}')
                    reported.add((page, number))
    for path in repo_files(root, TEXT_SUFFIXES):
        if path.resolve() == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding='utf-8', errors='replace').splitlines(), 1):
            if OUTSIDE.search(line) and (path, number) not in reported:
                problems.append(f'{path.relative_to(root)}:{number}: refers to material outside the repository')
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1])
    problems = check(root)
    for problem in problems:
        print(problem)
    pages = sum(1 for _ in repo_files(root, {'.md'}))
    print(f'{pages} Markdown files checked, {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
