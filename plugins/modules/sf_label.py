#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_label
short_description: Create, move, roll back and delete Shaken Fist labels
version_added: 0.1.0
description:
  - A label is a named, versioned, movable pointer such as "the image web servers boot from". Each move adds a
    version that points at a blob; the server keeps the newest O(max_versions) versions.
  - Point a label at a source by name (an image name, C(sf://upload/...), another label, a snapshot, an
    artifact UUID), never by blob UUID in ordinary use. References are resolved with the collection's one
    name-resolution rule (see C(docs/name-resolution.md)).
  - Sharing rules are checked before any write. Writes go by ownership, never by visibility. Only C(system) may
    create, move, share or delete a shared label. A tenant that names a C(system) label gets an error that
    says who owns the label and how to proceed. Only C(system) may touch another namespace's label, except that a
    namespace may create a new label in a namespace that trusts it.
  - Works on servers where C(GET /label) and C(DELETE /label) are broken (Shaken Fist 0.7.2). Labels are read
    from the artifact listing and deleted by artifact UUID.
  - The server does not record where each version came from. This module records it in the label's artifact
    metadata, one key per version (C(shakenfist.storage.resolved_from.<version>)), so concurrent moves of one
    label never lose each other's entries. It returns it as RV(label.current.resolved_from) and in RV(history).
  - Runs on one host (many forks of one job) take turns per label, through a lock file in
    C(~/.cache/shakenfist.storage). A run that waited reads what the one before did, and reports no change when
    the label is already as asked.
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
attributes:
  check_mode:
    support: full
    details:
      - Nothing is sent to the server. The result predicts the new version number, blob and checksum.
  diff_mode:
    support: full
    details:
      - Shows the target, version, blob, sha512, retained versions, O(max_versions) and O(shared) before and after.
  idempotent:
    support: partial
    details:
      - Pointing at a target is idempotent. When the newest version already points at the resolved blob (or
        at identical bytes), nothing is written.
      - O(rollback) is an action, not a state. Running it again moves the label again. To hold a label on one
        version, use O(target) with O(target_version) or O(target_sha512).
options:
  name:
    description:
      - The label name, in the namespace you authenticate as (the O(namespace) connection option).
      - V(<namespace>/<name>) names a label in another namespace. This is for C(system) acting on a tenant's
        label, for creating a label in a namespace that trusts you, and for a tenant that wants its own label
        with the same name as a shared C(system) label.
      - V(sf://label/<namespace>/<name>) and V(label:<name>) are accepted too.
      - A name that looks like a UUID is refused, because a bare UUID always means the artifact with that UUID.
      - A label in your own namespace is written by its plain name, as the official client does, so
        C(sf-client artifact show web) finds it.
    type: str
    required: true
  state:
    description:
      - V(present) creates or moves the label. V(absent) deletes it, or only O(version).
    type: str
    choices: [present, absent]
    default: present
  target:
    description:
      - What the label should point at. Any reference the resolver accepts, such as an image name
        (V(web-2024-06)), V(sf://upload/<ns>/<name>), another label (V(label:staging)), a snapshot, an artifact
        UUID or an C(https://) URL of an image that was already fetched.
      - An ambiguous reference is an error that lists every candidate, unless O(prefer) breaks the tie. The label
        itself never counts as a candidate, so O(name=web) with O(target=web) means the other C(web).
      - Required to create a label. Mutually exclusive with O(blob) and O(rollback).
    type: str
  target_version:
    description:
      - The version of O(target) to point at, V(latest) (the default) or a version number.
      - With a fixed number the label is pinned to that version. The task is idempotent and re-running it never
        follows newer versions.
    type: raw
  target_sha512:
    description:
      - The expected sha512 of the content. Without O(target_version), this picks the version of O(target) with
        this checksum. With it, both must match. Fails if nothing matches.
    type: str
  blob:
    description:
      - For operators, point at this blob UUID directly. Ordinary use never needs this. Prefer O(target).
    type: str
  rollback:
    description:
      - Move the label back to what it pointed at this many versions ago (V(1) is the version before the newest).
        The move is a new version with the old blob, so the history stays complete.
      - Limited by the history the server keeps (O(max_versions)).
    type: int
  prefer:
    description:
      - An ordered tie-break for an ambiguous O(target), from V(namespace), V(system), V(trusted), V(upstream).
        See the C(shakenfist.storage.sf_artifact) lookup.
    type: list
    elements: str
  max_versions:
    description:
      - How many versions the server keeps. Applied on create and on every update. The server only honours it at
        creation, so the module sets it explicitly when it differs. Lowering it drops the oldest versions at once.
    type: int
  shared:
    description:
      - Share the label with every namespace (V(true)) or stop sharing it (V(false)). Unset leaves it as it is.
      - Only C(system) may share, and only labels in namespace C(system) can be shared.
    type: bool
  metadata:
    description:
      - Metadata to set on the label's artifact, a dictionary of non-empty string values. Each key is written on its
        own, so runs setting different keys at once never undo each other. An empty value is refused before
        anything is written (Shaken Fist 0.7.2 cannot store it).
      - Keys starting with C(shakenfist.storage.) are reserved for the collection's own bookkeeping and refused.
    type: dict
  metadata_mode:
    description:
      - V(merge) sets the keys of O(metadata) and leaves the others alone. V(replace) also deletes the user keys not
        in O(metadata) (never the collection's own).
    type: str
    choices: [merge, replace]
    default: merge
  create:
    description:
      - Whether a missing label may be created. V(false) turns a typo into an error, not a new label.
    type: bool
    default: true
  version:
    description:
      - With O(state=absent), delete only this version. Deleting the last version deletes the label.
    type: int
seealso:
  - module: shakenfist.storage.sf_label_info
  - plugin: shakenfist.storage.sf_artifact
    plugin_type: lookup
author:
  - Shaken Fist storage collection contributors (@shakenfist)
'''

EXAMPLES = r'''
- name: Label tasks share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: Point web at the image published today
      shakenfist.storage.sf_label:
        name: web
        target: web-2024-06-01
        max_versions: 5

    - name: Roll web back to what it pointed at before
      shakenfist.storage.sf_label:
        name: web
        rollback: 1

    - name: Pin staging to version 2 of the builder image, checked by content
      shakenfist.storage.sf_label:
        name: staging
        target: builder
        target_version: 2
        target_sha512: "{{ builder_sha512 }}"

    - name: Move an existing label only (a typo fails, it is never created)
      shakenfist.storage.sf_label:
        name: production
        target: label:staging
        create: false

    - name: Delete one old version
      shakenfist.storage.sf_label:
        name: web
        state: absent
        version: 3

- name: A shared label every namespace can boot from (system only)
  shakenfist.storage.sf_label:
    namespace: system
    key: "{{ vault_sf_system_key }}"
    name: debian-12
    target: sf://upload/system/debian-12-20240601
    shared: true

- name: System moves a tenant's label
  shakenfist.storage.sf_label:
    namespace: system
    key: "{{ vault_sf_system_key }}"
    name: ci/web
    target: sf://upload/ci/web-2024-06-02
'''

RETURN = r'''
label:
  description:
    - The label after the task. After deletion, C(uuid) and C(current) are null.
    - In check mode, the prediction of what the real run returns, with the same O(max_versions), sharing and
      C(origin); only what the server has not allocated yet is null (C(uuid) of a label that would be created).
  returned: always
  type: dict
  contains:
    ref:
      description: The label's explicit reference, V(sf://label/<namespace>/<name>).
      type: str
      sample: sf://label/ci/web
    uuid:
      description: The label's artifact UUID, or null if it does not exist (or, in check mode, does not exist yet).
      type: str
    namespace:
      description: The namespace that owns the label.
      type: str
    name:
      description: The label name.
      type: str
    state:
      description: The artifact state, V(created), V(initial) or V(absent).
      type: str
    shared:
      description: Whether every namespace can see and boot from the label.
      type: bool
    max_versions:
      description: How many versions the server keeps.
      type: int
    origin:
      description: V(namespace) (yours), V(system) or V(trusted).
      type: str
    metadata:
      description: The label's artifact metadata, without the collection's own C(shakenfist.storage.*) keys.
      type: dict
    current:
      description: The newest version, what the label points at now. Null if there is none.
      type: dict
      contains:
        version:
          description: The version number.
          type: int
        blob_uuid:
          description: The blob the label points at.
          type: str
        sha512:
          description:
            - The sha512 of that blob, or null while the server does not know it yet (Shaken Fist 0.7.2 hashes a disk
              snapshot minutes after taking it).
          type: str
        size:
          description: Size in bytes.
          type: int
        resolved_from:
          description:
            - Where this version came from, as recorded by this collection. C(input) is the reference as
              given, C(ref) is its explicit form, C(version) is the version of the source, and C(via) is set for
              a rollback. Null for versions not made by this collection.
          type: dict
history:
  description: The versions the server keeps, newest first, with the same keys as RV(label.current).
  returned: always
  type: list
  elements: dict
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

from typing import Any, Dict  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._label_plan import LabelPlanner  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._labels import LabelRequest  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._local_state import (  # noqa: E402
    DEFAULT_STATE_DIR,
    Locks,
    StateDir,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402


class SfLabel(SfModule):
    activity = 'label'
    argument_spec = LabelRequest.argument_spec()
    module_kwargs: Dict[str, Any] = {
        'mutually_exclusive': [('target', 'blob', 'rollback'), ('target_version', 'rollback'),
                               ('target_version', 'blob')],
        'required_by': {'target_version': 'target'},
    }

    def run(self) -> None:
        request = LabelRequest.from_params(self.params)
        self.activity = f'label {request.name!r}'
        # Runs on this host take turns per label (the collection's state directory holds the lock files).
        with LabelPlanner(self.api, self.resolver, request, Locks(StateDir(DEFAULT_STATE_DIR))) as planner:
            self.apply(planner.plan())


def main() -> None:
    SfLabel()()


if __name__ == '__main__':
    main()
