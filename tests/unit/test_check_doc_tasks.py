"""tools/check_doc_tasks.py: tasks and lookups shown in the docs and EXAMPLES use real plugins, options and choices."""

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


def test_suboptions_and_lookup_arguments_are_checked() -> None:
    tasks = '''
- shakenfist.storage.sf_namespace_cleanup: {target_namespace: ci, keep: {names: [base-*], colour: red}}
- ansible.builtin.set_fact:
    a: "{{ lookup('shakenfist.storage.sf_artifact', 'label:web', prefer=['system'], on_missing=how) }}"
    b: "{{ query('shakenfist.storage.sf_artifact', 'x', on_missing='ignore', versions=2, wantlist=True) }}"
    c: "{{ lookup('shakenfist.storage.sf_image', 'x') }}"
'''
    lookups = check_doc_tasks.module_options(ROOT, 'lookup')
    assert check_doc_tasks.problems_in(yaml.safe_load(tasks), MODULES, lookups) == [
        "shakenfist.storage.sf_namespace_cleanup: no option 'keep.colour'",
        "lookup shakenfist.storage.sf_artifact: on_missing='ignore' is not one of ['error', 'warn', 'skip']",
        "lookup shakenfist.storage.sf_artifact: no option 'versions'",
        'no lookup shakenfist.storage.sf_image',
    ]


def test_plugin_examples_are_checked(tmp_path: Path) -> None:
    modules = tmp_path / 'plugins' / 'modules'
    modules.mkdir(parents=True)
    (modules / 'sf_thing.py').write_text("""
DOCUMENTATION = r'''
module: sf_thing
options:
  name: {type: str}
  state: {type: str, choices: [present, absent]}
'''

EXAMPLES = r'''
- name: Good
  shakenfist.storage.sf_thing: {name: a}
- name: Bad
  shakenfist.storage.sf_thing: {name: a, state: gone, colour: red}
'''
""")
    assert check_doc_tasks.check(tmp_path) == [
        "plugins/modules/sf_thing.py:9: EXAMPLES: shakenfist.storage.sf_thing: state='gone' is not one of "
        "['present', 'absent']",
        "plugins/modules/sf_thing.py:9: EXAMPLES: shakenfist.storage.sf_thing: no option 'colour'",
    ]


def test_the_documentation_is_clean() -> None:
    assert check_doc_tasks.check(ROOT) == []
