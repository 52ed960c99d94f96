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
extends_documentation_fragment:
  - shakenfist.storage.connection
  - shakenfist.storage.attributes
  - shakenfist.storage.attributes.action_group
  - shakenfist.storage.attributes.info_module
options:
  instance:
    description:
      - The instance, by name or UUID. Unset lists every instance of O(target_namespace) that has snapshots.
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
        msg: "{{ db_snapshots.instances[0].sets[0].devices[0].disk_base }}"

    - name: Every instance of the namespace that has a set called nightly-2026-12-01
      shakenfist.storage.sf_snapshot_info:
        name: nightly-2026-12-01
'''

RETURN = r'''
instances:
  description: One entry per instance that has snapshots (or the one asked for), sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    instance:
      description: The instance's C(uuid), C(name) and C(namespace) (name null for an instance deleted since).
      type: dict
    sets:
      description:
        - Its snapshot sets, newest first, with the keys of
          RV(shakenfist.storage.sf_snapshot#module:snapshot_set).
      type: list
      elements: dict
'''

from typing import Any, Dict, List, Optional  # noqa: E402

from ansible_collections.shakenfist.storage.plugins.module_utils._instances import (  # noqa: E402
    GONE_STATES,
    find_instance,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._module import SfModule  # noqa: E402
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot_sets import read_sets  # noqa: E402


class SfSnapshotInfo(SfModule):
    activity = 'list snapshot sets'
    argument_spec: Dict[str, Any] = {
        'instance': {'type': 'str'},
        'target_namespace': {'type': 'str'},
        'name': {'type': 'str'},
    }

    def run(self) -> None:
        params = self.params
        found: List[Dict[str, Any]] = []
        if params['instance']:
            self.activity = f'list snapshot sets of {params["instance"]!r}'
            instance = find_instance(self.api, params['instance'], params['target_namespace'])
            found.append(self.entry(instance.uuid, instance.name, instance.namespace))
        else:
            namespace = params['target_namespace'] or self.api.namespace
            names = {i.uuid: i.name for i in self.api.list_instances() if i.state not in GONE_STATES}
            owners = {a.source_url.split('/')[3]: a.namespace for a in self.api.index()
                      if a.artifact_type == 'snapshot' and a.namespace == namespace
                      and a.source_url.startswith('sf://instance/')}
            for uuid, owner in owners.items():
                entry = self.entry(uuid, names.get(uuid), owner)
                if entry['sets'] or not params['name']:
                    found.append(entry)
            found.sort(key=lambda e: (e['instance']['namespace'], e['instance']['name'] or '', e['instance']['uuid']))
        self.result['instances'] = found

    def entry(self, uuid: str, name: Optional[str], namespace: str) -> Dict[str, Any]:
        sets = [s.as_dict() for s in read_sets(self.api, uuid, name) if self.params['name'] in (None, s.name)]
        return {'instance': {'uuid': uuid, 'name': name, 'namespace': namespace}, 'sets': sets}


def main() -> None:
    SfSnapshotInfo()()


if __name__ == '__main__':
    main()
