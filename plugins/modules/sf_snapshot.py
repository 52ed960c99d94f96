#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_snapshot
short_description: Take, label and prune snapshot sets of Shaken Fist instances
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Snapshots one or more disks of an instance as one B(snapshot set), points a label at it, and applies
    retention (keep the newest N sets, or delete those older than a duration), in one declarative task.
  - The server keeps one C(snapshot) artifact per instance disk and adds a version to it on every snapshot. A set
    groups the per-disk versions one task made; the collection records it in the artifacts' metadata (one key per
    snapshot blob, C(shakenfist.storage.snapshot.<blob uuid>)), so sets survive across runs and other tools'
    snapshots show as sets of one disk without a name. See C(docs/snapshots.md).
  - Whether a new set is wanted is the user's choice, never a guess. O(name) takes a set once (no change when the
    instance already has a set of that name); O(min_age) takes one only when the newest set is older; O(force)
    always takes one. O(keep) or O(older_than) alone only prune. With none of them the module refuses and says
    which to choose.
  - The result never points at C(sf://instance/...), which the server cannot boot from (shakenfist#1167). Each disk
    of the set has a C(disk_base) (C(sf://blob/<uuid>)) that boots exactly that snapshot.
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.wait
attributes:
  check_mode:
    support: full
    details:
      - Returns the plan (the set that would be taken, the sets that would be deleted and the ones kept, in order)
        and sends no write.
  diff_mode:
    support: full
    details:
      - Shows the instance's sets before and after.
  idempotent:
    support: full
    details:
      - With O(name) or O(min_age). O(force=true) takes a set on every run, by design.
options:
  instance:
    description:
      - The instance, by name or UUID. A name that matches several instances is an error that lists them.
    type: str
    required: true
  target_namespace:
    description:
      - Look the instance up in this namespace only (for C(system), which sees every namespace). The namespace you
        authenticate as stays O(namespace).
    type: str
  devices:
    description:
      - The disks to snapshot. Unset means the first disk, as the server does. A list of device names (for example
        V([vda, vdb])), or V(all) for every disk (and C(nvram) for UEFI instances).
      - A device the instance does not have is an error before anything is written.
    type: raw
  thin:
    description:
      - Thin snapshots record only the changes since the disk's base image (the base blob is then kept alive).
        V(false) leaves the choice to the cluster's default.
    type: bool
    default: false
  name:
    description:
      - The snapshot set's name, unique per instance by this module's choice. When the instance already has a set of
        this name, no new one is taken. Must not contain C(/).
      - With O(state=absent), the set to delete.
    type: str
  min_age:
    description:
      - Take a new set only when the instance's newest set is older than this, for example V(20h) for a nightly
        schedule that tolerates a late run. Units C(s), C(m), C(h), C(d), C(w), combined as in V(1d12h).
    type: str
  force:
    description:
      - Take a new set on every run. Also lets retention delete sets a label points at.
    type: bool
    default: false
  wait:
    description:
      - Wait until every disk's snapshot exists, and fail with the server's reason when one fails. With V(false)
        the set's handles come back at once (each disk's C(state) is then C(initial)).
  wait_timeout:
    description:
      - Seconds to wait, first for an instance that is still booting (C(initial), C(preflight) or C(creating), when it
        has no disks to read yet), then for the snapshot. Check mode waits for a booting instance too (reads only).
      - An instance that failed or is being deleted is an error at once, not a wait.
  label:
    description:
      - Point this label at the snapshot, through the same code as M(shakenfist.storage.sf_label) (sharing rules,
        history). Only for a single disk; with several devices this is an error before anything is written.
      - With O(name) and a set of that name already there, the label is pointed at that set.
      - Only with O(state=present); with O(state=absent) it is an error before anything is read.
    type: str
  label_create:
    description:
      - Whether O(label) may be created. V(false) turns a typo into an error before anything is written.
    type: bool
    default: true
  keep:
    description:
      - Keep the newest this many sets of the instance (a new set counts) and delete the rest.
      - Sets are only ever deleted by this retention (or O(state=absent)). Before a set is taken, each disk's
        C(max_versions) is raised where needed, so the server never trims a version of its own accord. Without
        O(keep) or O(older_than), sets accumulate.
    type: int
  older_than:
    description:
      - Delete the sets older than this duration (same units as O(min_age)). With O(keep) too, a set is deleted only
        when both say so.
      - Sets a label points at are kept unless O(force); RV(kept) says why.
    type: str
  metadata:
    description:
      - Metadata to set on the snapshot artifact of each disk of the set taken (or, when none is taken, of the set
        found by O(name) or O(min_age)), a dictionary of non-empty string values. Each key is written on its own.
        Only with O(state=present). An empty value is refused before anything is written.
      - Keys starting with C(shakenfist.storage.) are reserved for the collection's own bookkeeping (the set
        records) and refused.
    type: dict
  metadata_mode:
    description:
      - V(merge) sets the keys of O(metadata) and leaves the others alone. V(replace) also deletes the user keys not
        in O(metadata) (never the set records).
    type: str
    choices: [merge, replace]
    default: merge
  state:
    description:
      - V(present) takes (as decided above) and prunes. V(absent) deletes the set called O(name), every disk of it.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: shakenfist.storage.sf_snapshot_info
  - module: shakenfist.storage.sf_label
'''

EXAMPLES = r'''
- name: Snapshot tasks share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: Snapshot the database server once per night, keep seven sets
      shakenfist.storage.sf_snapshot:
        instance: db-1
        devices: all
        min_age: 20h
        keep: 7

    - name: Snapshot before an upgrade, by name (running it again changes nothing), and label it
      shakenfist.storage.sf_snapshot:
        instance: web-1
        name: before-upgrade-2026-12
        label: web-golden
      register: golden

    - name: Boot a clone from exactly that snapshot
      ansible.builtin.debug:
        msg: "disk base {{ golden.snapshot_set.devices[0].disk_base }}"

    - name: Delete snapshot sets older than a month, except labelled ones
      shakenfist.storage.sf_snapshot:
        instance: web-1
        older_than: 30d

    - name: Delete one set
      shakenfist.storage.sf_snapshot:
        instance: web-1
        name: before-upgrade-2026-12
        state: absent
'''

RETURN = r'''
snapshot_set:
  description:
    - The set this task took, or the existing set that made it unnecessary (O(name), O(min_age)).
    - In check mode, the set that would be taken, with the same keys; what the server has not made yet is null
      (C(id), C(created), and per disk C(version), C(blob_uuid), C(sha512), C(size), C(unchanged), C(disk_base), and
      C(artifact_uuid) and C(ref) for a disk never snapshotted before).
  returned: when a set was taken or found (or, in check mode, would be)
  type: dict
  contains:
    id:
      description: The set's id, recorded in metadata. Snapshots other tools took have an C(<artifact>:<version>) id.
      type: str
    name: {description: "The set's name, or null.", type: str}
    instance: {description: The instance's C(uuid) and C(name)., type: dict}
    created: {description: "When the set was taken (epoch seconds, by the client's clock).", type: float}
    labels: {description: Labels that point at one of its disks., type: list, elements: str}
    devices:
      description: One entry per disk.
      type: list
      elements: dict
      contains:
        device: {description: The disk's device name., type: str}
        artifact_uuid: {description: The disk's snapshot artifact., type: str}
        version: {description: The version this set holds (null while not finished)., type: int}
        blob_uuid: {description: The blob holding the snapshot., type: str}
        sha512:
          description:
            - Its sha512, or null while the server does not know it yet (Shaken Fist 0.7.2 computes a disk snapshot's
              sha512 minutes after it is taken).
          type: str
        size: {description: Its size in bytes., type: int}
        state: {description: "V(created), or V(initial) while not finished (O(wait=false)).", type: str}
        unchanged:
          description:
            - True when the disk had not changed since its newest version, so the server added no version and this
              set holds that one (it is deleted only with the last set that holds it).
          type: bool
        ref:
          description: The artifact's explicit reference, V(sf://snapshot/<artifact uuid>) (its newest version).
          type: str
        disk_base: {description: What to put in an instance disk spec to boot exactly this snapshot., type: str}
sets:
  description:
    - Every set of the instance after the task, newest first, each with the keys of RV(snapshot_set). In check mode,
      the sets as the real run would leave them (a set to be taken first, deleted ones left out, a label that would
      move counted at its new set).
    - The same model as M(shakenfist.storage.sf_snapshot_info) returns in its
      RV(shakenfist.storage.sf_snapshot_info#module:sets).
  returned: success
  type: list
  elements: dict
deleted:
  description: The sets deleted (or that would be, in check mode), with the same keys as RV(snapshot_set).
  returned: success
  type: list
  elements: dict
kept:
  description: Sets retention would have deleted but kept, with the reason (a label points at them).
  returned: success
  type: list
  elements: dict
  contains:
    id: {description: The set's id., type: str}
    name: {description: "The set's name, or null.", type: str}
    reason:
      description:
        - "Why it stays, for example C(label sf://label/ci/golden points at it (force: true deletes it
          anyway))."
      type: str
instance:
  description: The instance the task acted on, as M(shakenfist.storage.sf_snapshot_info) returns it.
  returned: success
  type: dict
  contains:
    uuid: {description: The instance's UUID., type: str}
    name: {description: Its name., type: str}
    namespace: {description: The namespace that owns it., type: str}
metadata:
  description: Per device of the set, its snapshot artifact's metadata without the collection's own keys.
  returned: when O(metadata) is set
  type: dict
label:
  description: The label after the task, as M(shakenfist.storage.sf_label) returns it.
  returned: when O(label) is set, not in check mode
  type: dict
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

from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot import (  # noqa: E402
    SnapshotRequest,
    Snapshotter,
)


class SfSnapshot(SfModule):
    activity = 'snapshot'
    argument_spec = SnapshotRequest.argument_spec()

    def run(self) -> None:
        request = SnapshotRequest.from_params(self.params)
        self.activity = f'snapshot instance {request.instance!r}'
        with Snapshotter(self.api, self.resolver, request) as snapshotter:
            self.apply(snapshotter.plan())


def main() -> None:
    SfSnapshot()()


if __name__ == '__main__':
    main()
