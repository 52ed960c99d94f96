"""Every module's RETURN documents the keys every module shares (`actions`, `plan`, `api_requests`, `error`, `log`)
with one text, the one below: ansible-doc has no RETURN fragments, so each module carries a copy and this test keeps
the copies the same. tests/integration/test_return_docs.py checks that what the modules return is documented."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((ROOT / 'plugins' / 'modules').glob('sf_*.py'))
INFO_MODULES = {'sf_artifact_info', 'sf_label_info', 'sf_snapshot_info'}
# Copy an entry from here into a module's RETURN as it is (the keys of state-changing modules, then the others').
COMMON = r'''
actions:
  description:
    - What the task did, in order, in words. In check mode, what it would do, each starting with C(would).
    - On a failure, what was done before the step that failed.
  returned: always
  type: list
  elements: str
  sample: ["would move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)"]
plan:
  description:
    - The steps of the task, in order, with what happened to each (notes about what needs no change included).
    - On a failure, the steps that ran, the one that failed and those that did not run.
  returned: always
  type: list
  elements: dict
  contains:
    step:
      description: The kind of step, for example V(upload), V(point_label), V(snapshot), V(delete_set) or V(note).
      type: str
    action:
      description: What the step does, or did.
      type: str
    status:
      description: V(planned) (check mode), V(done), V(unchanged), V(failed) or V(not run).
      type: str
  sample: [{step: point_label, action: "move sf://label/ci/web -> sf://upload/ci/web-2 (blob 8c0e3b1a-..., version 4)",
            status: done}]
api_requests:
  description: How many requests the task sent to the Shaken Fist API, and how many of them were writes.
  returned: success
  type: dict
  contains:
    total:
      description: Every request, reads and writes, retries included.
      type: int
    writes:
      description: The requests that may change something (all but C(GET) and C(HEAD)); always 0 in check mode.
      type: int
  sample: {total: 6, writes: 2}
error:
  description:
    - Why the task failed, as data, beside C(msg). Never a traceback, never a secret.
    - Not returned when Ansible itself refuses the options (a missing required option, say) before the module runs.
  returned: failure
  type: dict
  contains:
    type:
      description:
        - What kind of failure. V(invalid_input) (refused before any request), V(unauthenticated), V(forbidden),
          V(not_found), V(ambiguous_reference) (C(detail.candidates) lists them), V(conflict), V(not_ready),
          V(timeout), V(server_error), V(unsupported) (this server's version cannot do it), V(transport_error),
          V(missing_library), V(error) (an HTTP error no other type covers), V(internal_error) (a bug, please
          report it) or V(check_mode_write) (a bug too; a write check mode refused to send).
      type: str
    hint:
      description: What to do about it, when there is something to say.
      type: str
    status:
      description: The HTTP status of the answer that failed, or null.
      type: int
    method:
      description: The HTTP method of the request that failed, or null.
      type: str
    path:
      description: The API path of the request that failed, or null.
      type: str
    request_id:
      description: The server's request ID of that answer, when it sent one.
      type: str
    detail:
      description: More about the failure, for example the candidates of an ambiguous reference.
      type: raw
  sample:
    type: not_found
    hint: list what exists with shakenfist.storage.sf_artifact_info
    status: null
    method: null
    path: null
    request_id: null
    detail: {near: [sf://upload/ci/web-2026-11]}
log:
  description: The task's progress and the requests it sent, one line each, with every secret redacted.
  returned: at verbosity 3 (C(-vvv)) or more
  type: list
  elements: str
'''
CHANGING_KEYS = ('actions', 'plan')
SHARED_KEYS = ('api_requests', 'error', 'log')


def doc(path: Path, name: str) -> Any:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f'{path.stem} has no {name}')


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.stem)
def test_the_shared_keys_are_documented_with_the_one_text(path: Path) -> None:
    returned = doc(path, 'RETURN')
    common = yaml.safe_load(COMMON)
    info = path.stem in INFO_MODULES
    for key in SHARED_KEYS + (() if info else CHANGING_KEYS):
        assert returned.get(key) == common[key], f'{path.stem}: RETURN {key} differs from COMMON in {__name__}'
    if info:  # an info module changes nothing: it has no actions and no plan to document
        assert not set(CHANGING_KEYS) & set(returned), path.stem


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.stem)
def test_every_returned_key_says_when_what_and_how(path: Path) -> None:
    for key, entry in doc(path, 'RETURN').items():
        assert {'description', 'returned', 'type'} <= set(entry), f'{path.stem}: RETURN {key}'
