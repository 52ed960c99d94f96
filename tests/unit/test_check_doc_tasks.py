"""tools/check_doc_tasks.py: tasks shown in the docs use real modules, options and choices."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('check_doc_tasks', ROOT / 'tools' / 'check_doc_tasks.py')
assert _spec and _spec.loader
check_doc_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_doc_tasks)

MODULES = check_doc_tasks.module_options(ROOT)


def problems(text: str) -> list[str]:
    return [p for task in check_doc_tasks.tasks_in(yaml.safe_load(text))
            for p in check_doc_tasks.check_task(task, MODULES)]


def test_every_module_is_known_with_its_connection_options() -> None:
    assert set(MODULES) == {p.stem for p in (ROOT / 'plugins' / 'modules').glob('*.py')}
    assert {'api_url', 'namespace', 'key', 'src', 'label'} <= set(MODULES['sf_image_publish'])


def test_valid_tasks_pass_in_plays_and_blocks() -> None:
    play = '''
- hosts: localhost
  tasks:
    - block:
        - shakenfist.storage.sf_label: {name: web, target: web-1, namespace: ci}
        - shakenfist.storage.sf_namespace_cleanup: {target_namespace: ci, resources: [artifacts]}
        - shakenfist.storage.sf_image_publish: {name: x, src: /x, fetch: "{{ how }}"}
'''
    assert problems(play) == []


def test_unknown_modules_options_and_choices_are_reported() -> None:
    tasks = '''
- shakenfist.storage.sf_instance: {name: x}
- shakenfist.storage.sf_label: {name: web, blob_uuid: abc}
- shakenfist.storage.sf_image_publish: {name: x, src: /x, fetch: somewhere}
- shakenfist.storage.sf_namespace_cleanup: {target_namespace: ci, resources: [instances, disks]}
'''
    assert problems(tasks) == [
        'no module shakenfist.storage.sf_instance',
        "shakenfist.storage.sf_label: no option 'blob_uuid'",
        "shakenfist.storage.sf_image_publish: fetch='somewhere' is not one of ['cluster', 'controller']",
        "shakenfist.storage.sf_namespace_cleanup: resources='disks' is not one of ['instances', 'networks', "
        "'artifacts']",
    ]


def test_the_documentation_is_clean() -> None:
    assert check_doc_tasks.check(ROOT) == []
