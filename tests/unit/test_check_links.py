"""tools/check_links.py: every kind of bad link is reported, good ones are not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = 'sha' + 'red'  # spelled apart so this file does not trip the check it tests
_spec = importlib.util.spec_from_file_location('check_links', ROOT / 'tools' / 'check_links.py')
assert _spec and _spec.loader
check_links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_links)


def make_repo(tmp_path: Path, page: str) -> Path:
    (tmp_path / 'docs').mkdir()
    other = '# Other page\n\n## The `sf_label` module: options\n\n## Twice\n\n## Twice\n\n<a id="custom"></a>\n'
    (tmp_path / 'docs' / 'other.md').write_text(other)
    (tmp_path / 'docs' / 'page.md').write_text(page)
    return tmp_path


def problems(tmp_path: Path, page: str) -> list[str]:
    return check_links.check(make_repo(tmp_path, page))


def test_good_links_pass(tmp_path: Path) -> None:
    page = ('[a](other.md) [b](other.md#other-page) [c](other.md#the-sf_label-module-options) [d](other.md#twice-1) '
            '[e](other.md#custom) [f](../docs/) [g](#local) [h](https://semver.org/) <https://shakenfist.com>\n'
            '\n## Local\n\n```\n[not a link](missing.md) http://127.0.0.1:13000\n```\n`[code](missing.md)`\n'
            '[ref]: other.md\n')
    assert problems(tmp_path, page) == []


def test_each_bad_link_is_reported(tmp_path: Path) -> None:
    page = ('[a](missing.md)\n[b](other.md#nope)\n[c](http://example.com/)\n[d](file:///etc/passwd)\n'
            '[e](https://127.0.0.1:13000/)\n[f](https://localhost/x)\n[g](../../outside.md)\n[h](/abs/path.md)\n'
            f'[i](../{SHARED}/research/notes.md)\n[ref]: gone.md\n')
    found = problems(tmp_path, page)
    assert [line.split(': ', 1)[0] for line in found] == [f'docs/page.md:{n}' for n in range(1, 11)], found
    assert 'no such file' in found[0] and 'no heading #nope' in found[1] and 'not an https URL' in found[2]
    assert 'not an https URL' in found[3] and 'not a public URL' in found[4] and 'not a public URL' in found[5]
    assert 'leaves the repository' in found[6] and 'absolute path' in found[7]
    assert 'outside the repository' in found[8] and 'no such file' in found[9]


def test_references_to_outside_material_in_any_file(tmp_path: Path) -> None:
    make_repo(tmp_path, 'fine\n')
    (tmp_path / 'tool.py').write_text(f'# facts from ../{SHARED}/research/notes.md\n')
    (tmp_path / '.venv').mkdir()
    (tmp_path / '.venv' / 'ignored.md').write_text('[x](missing.md)\n')
    assert check_links.check(tmp_path) == ['tool.py:1: refers to material outside the repository']


def test_the_repository_itself_is_clean() -> None:
    assert check_links.check(ROOT) == []
