#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_label_info
short_description: List Shaken Fist labels, or show one with its full history
version_added: 0.1.0
description:
  - Without O(name), lists every label you can see. That is your own labels, shared C(system) labels (marked
    C(shared) with C(origin=system)) and labels of namespaces that trust you, filtered by O(owner) and O(pattern).
    A listing is one request plus local filtering.
  - With O(name), shows that label with its full version history and what each version was resolved from.
  - Nothing matching is an empty answer, never a failure, as for every info module of the collection. A label that
    does not exist gives RV(exists=false), RV(label=null) and empty RV(labels) and RV(history). A malformed
    O(name) fails with C(invalid_input).
  - Reads go by visibility. Labels are read from the artifact listing, because C(GET /label) is broken on some
    servers (Shaken Fist 0.7.2).
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.attributes.info_module
options:
  name:
    description:
      - Show this one label. V(<name>) is your own label, or if you have none of that name, the C(system) label
        you can see. V(<namespace>/<name>) (or V(sf://label/<namespace>/<name>)) names the owner explicitly.
    type: str
  owner:
    description:
      - Only list labels owned by this namespace, for example V(system) for the shared labels.
    type: str
  pattern:
    description:
      - Only list labels whose name matches this shell-style pattern, for example V(web-*).
    type: str
  history:
    description:
      - Also read every listed label's versions. This adds C(sha512) and each label's C(history), at one request
        per label. Always on with O(name).
    type: bool
    default: false
author:
  - Shaken Fist storage collection contributors (@shakenfist)
'''

EXAMPLES = r'''
- name: Label listings share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: Every label you can see, including shared system labels
      shakenfist.storage.sf_label_info:
      register: all_labels

    - name: Names of the shared labels
      ansible.builtin.debug:
        msg: "{{ all_labels.labels | selectattr('shared') | map(attribute='ref') | list }}"

    - name: The web labels of one namespace, with their histories
      shakenfist.storage.sf_label_info:
        owner: ci
        pattern: "web*"
        history: true

    - name: One label with its full history
      shakenfist.storage.sf_label_info:
        name: web
      register: web

    - name: What web pointed at before
      ansible.builtin.debug:
        msg: "{{ web.history[1].resolved_from.ref | default('unknown') }}"
      when: web.history | length > 1
'''

RETURN = r'''
labels:
  description: The labels found, sorted by namespace then name. With O(name), that one label (or none).
  returned: always
  type: list
  elements: dict
  contains:
    ref:
      description: The label's explicit reference, V(sf://label/<namespace>/<name>).
      type: str
    uuid:
      description: The label's artifact UUID.
      type: str
    namespace:
      description: The namespace that owns the label.
      type: str
    name:
      description: The label name.
      type: str
    state:
      description: The artifact state, V(created) or V(initial).
      type: str
    shared:
      description: Whether the label is shared with every namespace (only C(system) labels can be).
      type: bool
    max_versions:
      description: How many versions the server keeps.
      type: int
    origin:
      description: V(namespace) (yours), V(system) or V(trusted) (a namespace that trusts you).
      type: str
    metadata:
      description: The label's artifact metadata, without the reserved C(shakenfist.storage.resolved_from) key.
      type: dict
    current:
      description: The newest version. C(sha512) is only filled when versions are read (O(history) or O(name)).
      type: dict
      contains:
        version:
          description: The version number.
          type: int
        blob_uuid:
          description: The blob the label points at.
          type: str
        sha512:
          description: The sha512 of that blob.
          type: str
        size:
          description: Size in bytes.
          type: int
        resolved_from:
          description: Where this version came from, if this collection made it (C(input), C(ref), C(version),
            and C(via) for a rollback).
          type: dict
    history:
      description: Only with O(history=true), the versions newest first, with the same keys as C(current).
      type: list
      elements: dict
label:
  description: With O(name), the label (the same keys as an entry of RV(labels)), or null when it does not exist.
  returned: when O(name) is given
  type: dict
history:
  description: With O(name), every version the server keeps, newest first, with the same keys as C(current).
  returned: when O(name) is given
  type: list
  elements: dict
exists:
  description: With O(name), whether the label exists.
  returned: when O(name) is given
  type: bool
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

from typing import Any, Dict  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._labels import LabelQuery, LabelReader  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class SfLabelInfo(SfModule):
    changes_state = False
    activity = 'reading labels'
    argument_spec = LabelQuery.argument_spec()
    module_kwargs: Dict[str, Any] = {'mutually_exclusive': [('name', 'owner'), ('name', 'pattern')]}

    def run(self) -> None:
        query = LabelQuery.from_params(self.params)
        if query.name:
            self.activity = f'reading label {query.name!r}'
        self.result.update(LabelReader(self.api, self.resolver).info(query))


def main() -> None:
    SfLabelInfo()()


if __name__ == '__main__':
    main()
