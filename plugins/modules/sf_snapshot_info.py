#!/usr/bin/python
# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: sf_snapshot_info
short_description: List the snapshot sets of Shaken Fist instances
version_added: 0.1.0
author:
  - Shaken Fist storage collection contributors (@shakenfist)
description:
  - Lists snapshot sets, newest first, for one instance (by name or UUID) or for every instance of a namespace,
    including instances that were deleted since (their snapshots stay). A set groups the per-disk snapshots one
    M(shakenfist.storage.sf_snapshot) task took; snapshots other tools took are sets of one disk without a name.
  - Each set has the labels that point at one of its disks, and per disk the version, blob, sha512, size and the
    C(disk_base) that boots exactly that snapshot.
  - With O(instance), RV(instance) and RV(sets) are that instance and its sets, with the same keys as
    M(shakenfist.storage.sf_snapshot) returns them, so a task can read either module's result the same way.
  - Nothing matching is an empty answer, never a failure. An instance that does not exist gives RV(sets=[]),
    RV(instances=[]) and RV(instance=null), as M(shakenfist.storage.sf_artifact_info) gives an empty list. The UUID
    of an instance deleted since still finds its sets. A malformed or ambiguous O(instance) fails.
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.attributes.info_module
options:
  instance:
    description:
      - The instance, by name or UUID. Unset lists every instance of O(target_namespace) that has snapshots.
      - A name that matches several instances is an error that lists them (give the UUID, or O(target_namespace)).
    type: str
  target_namespace:
    description:
      - The namespace whose instances to list (default the one you authenticate as), or to look O(instance) up in.
    type: str
  name:
    description:
      - Only sets with this name.
    type: str
seealso:
  - module: shakenfist.storage.sf_snapshot
'''

EXAMPLES = r'''
- name: Snapshot listings share one connection
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: https://sf.example.com/api
      namespace: ci
      key: "{{ vault_sf_key }}"
  block:
    - name: The snapshot sets of one instance
      shakenfist.storage.sf_snapshot_info:
        instance: db-1
      register: db_snapshots

    - name: Boot from the newest set's first disk
      ansible.builtin.debug:
        msg: "{{ db_snapshots.sets[0].devices[0].disk_base }}"
      when: db_snapshots.sets | length > 0

    - name: Every instance of the namespace that has a set called nightly-2026-12-01
      shakenfist.storage.sf_snapshot_info:
        name: nightly-2026-12-01
'''

RETURN = r'''
instances:
  description:
    - One entry per instance that has snapshots (or the one asked for), sorted by namespace and name. Empty when
      nothing matches.
  returned: always
  type: list
  elements: dict
  contains:
    instance:
      description: The instance, with the keys of RV(instance).
      type: dict
    sets:
      description: Its snapshot sets, newest first, with the keys of RV(sets).
      type: list
      elements: dict
instance:
  description:
    - With O(instance), the instance, as M(shakenfist.storage.sf_snapshot) returns it; null when there is no such
      instance.
  returned: when O(instance) is given
  type: dict
  contains:
    uuid: {description: The instance's UUID., type: str}
    name: {description: "Its name, or null for an instance deleted since.", type: str}
    namespace: {description: The namespace that owns it (and its snapshots)., type: str}
sets:
  description:
    - With O(instance), its snapshot sets, newest first (only those called O(name) when it is given), the same list
      as RV(instances[].sets) of its one entry. Empty when there is no such instance or it has none.
    - Each set has the keys of RV(shakenfist.storage.sf_snapshot#module:snapshot_set), the same model as
      M(shakenfist.storage.sf_snapshot) returns in its own RV(shakenfist.storage.sf_snapshot#module:sets).
  returned: when O(instance) is given
  type: list
  elements: dict
  sample:
    - id: 5f0c6a52-93d5-4b4f-9d0b-7b9f3c1e2a10
      name: nightly-2026-12-01
      instance: {uuid: 0b2c8a14-6f0e-4a55-8d7d-61f4f1c2b3a4, name: db-1}
      created: 1796342400.0
      labels: [sf://label/ci/db-golden]
      devices:
        - device: vda
          artifact_uuid: 8e1f9d4c-2b7a-4c3e-9f6d-0a1b2c3d4e5f
          version: 3
          blob_uuid: 1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5
          sha512: null
          size: 10737418240
          state: created
          unchanged: false
          ref: sf://snapshot/8e1f9d4c-2b7a-4c3e-9f6d-0a1b2c3d4e5f
          disk_base: sf://blob/1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5
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
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot_sets import (  # noqa: E402
    SnapshotQuery,
    SnapshotReader,
)


class SfSnapshotInfo(SfModule):
    changes_state = False
    activity = 'list snapshot sets'
    argument_spec = SnapshotQuery.argument_spec()

    def run(self) -> None:
        query = SnapshotQuery.from_params(self.params)
        query.validate()
        if query.instance is not None:
            self.activity = f'list snapshot sets of {query.instance!r}'
        self.result.update(SnapshotReader(self.api, query).read())


def main() -> None:
    SfSnapshotInfo()()


if __name__ == '__main__':
    main()
