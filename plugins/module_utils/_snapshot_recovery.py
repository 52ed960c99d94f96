# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A snapshot request whose answer was lost: find what the server did, never ask again.

- Within the run (no answer in time, or an error the server may have sent after acting): the snapshot it took is a
  version of each expected disk that was not there when the run read the sets and that no set records. Runs on one
  host take turns per instance, so such a version is this run's.
- A run killed between its request and the record of its set leaves an intent in the state directory; the next run
  on that host finds the snapshot the killed one asked for and records it as that set, instead of taking another.
"""

from __future__ import annotations

import contextlib
import time
from typing import Dict, List, Optional, Set

from ._api import SfApi
from ._errors import SfError, SfServerError, SfTimeout
from ._local_state import StateDir
from ._models import Instance, SnapshotRef
from ._plan import Plan, Step
from ._snapshot_sets import SnapshotSet, read_sets, set_entry, set_key

INTENTS = 'snapshot-intents'  # state directory entries: a snapshot asked for, its set not yet recorded


class Recovery:
    def __init__(self, api: SfApi, state: Optional[StateDir], instance: Instance, sets: List[SnapshotSet],
                 wait_timeout: float) -> None:
        self.api = api
        self.state = state
        self.instance = instance
        # Every version of the instance's disks when the run read its sets.
        self.known_blobs = {blob for snapshot_set in sets for blob in snapshot_set.blobs()}
        self.wait_timeout = wait_timeout
        self.key = f'{api.url}:{instance.uuid}'

    def adopt(self, expected: List[str], lost: SfError) -> Dict[str, SnapshotRef]:
        """The snapshot a request whose answer was lost made: the unrecorded new version of each expected disk.
        Waits for it like for any snapshot, up to wait_timeout."""
        instance = self.instance

        def found() -> Optional[Dict[str, SnapshotRef]]:
            orphans = unrecorded(self._reread(), self.known_blobs, expected)
            if orphans is None:
                return None
            return {device: SnapshotRef(source_url=f'sf://instance/{instance.uuid}/{device}',
                                        artifact_uuid=disk.artifact_uuid, blob_uuid=disk.blob_uuid)
                    for device, disk in ((d, orphans[d].devices[0]) for d in expected)}

        try:
            return self.api.wait_until(found, self.wait_timeout,
                                       f'the snapshot of instance {instance.name} whose answer was lost appeared')
        except SfTimeout:
            raise SfServerError(f'the answer to the snapshot request for instance {instance.name} was lost ({lost}), '
                                f'and no new snapshot of {", ".join(expected)} appeared within '
                                f'{self.wait_timeout:.0f}s', status=lost.status,
                                hint='the cluster took no snapshot: run the task again') from None

    def finish_killed_run(self, plan: Plan, sets: List[SnapshotSet]) -> List[SnapshotSet]:
        """The sets with a killed run's snapshot recorded as its set (a step of `plan`), when it can be found."""
        instance = self.instance
        intent = self.state.read(INTENTS, self.key) if self.state else None
        if not intent or not isinstance(intent.get('devices'), list):
            return sets
        before, devices = set(intent.get('before') or []), [str(d) for d in intent['devices']]
        taken = unrecorded(sets, before, devices)
        left = float(intent.get('wait_timeout') or 0) - (time.time() - float(intent.get('written') or 0))
        if taken is None and left > 0:
            # Asked moments ago: its snapshot may still be on its way. Wait for it (reads only) as its run would.
            with contextlib.suppress(SfTimeout):
                self.api.wait_until(lambda: unrecorded(self._reread(), before, devices), left,
                                    'the snapshot a stopped run asked for appeared')
                sets = self._reread()
                taken = unrecorded(sets, before, devices)
        if taken is None:
            return sets  # that request never made a snapshot: a new one is taken as usual
        recovered = SnapshotSet(str(intent['set']), intent.get('name'), instance.uuid, instance.name,
                                float(intent.get('created') or 0), [taken[d].devices[0] for d in devices])
        entry = set_entry(recovered.id, recovered.name, recovered.created, instance, devices)

        def record(step: Step) -> None:
            for device in recovered.devices:
                self.api.set_metadata(device.artifact_uuid, set_key(device.blob_uuid), entry)
            self.forget()

        plan.add('record_set', f'record the snapshot a stopped run took of instance {instance.name} as set '
                               f'{recovered.summary()}', record)
        rest = [s for s in sets if s not in taken.values()]
        return sorted(rest + [recovered], key=lambda s: s.created, reverse=True)

    def _reread(self) -> List[SnapshotSet]:
        return read_sets(self.api, self.instance.uuid, self.instance.name, refresh=True)

    def remember(self, set_id: str, name: Optional[str], created: float, devices: List[str]) -> None:
        """Just before asking: what a later run needs to finish this one if it is killed before the record."""
        if self.state is not None:
            self.state.write(INTENTS, self.key, {
                'set': set_id, 'name': name, 'created': created, 'devices': devices,
                'before': sorted(self.known_blobs), 'wait_timeout': self.wait_timeout})

    def forget(self) -> None:
        """The set is on record: nothing is left for a later run to finish."""
        if self.state is not None:
            self.state.remove(INTENTS, self.key)


def unrecorded(sets: List[SnapshotSet], known: Set[str], devices: List[str]) -> Optional[Dict[str, SnapshotSet]]:
    """device -> the newest version no set records and that was not among `known` (read_sets shows such a version
    as a set of one disk, without a name, with an `<artifact>:<index>` id); None until each of `devices` has one."""
    found: Dict[str, SnapshotSet] = {}
    for snapshot_set in sets:  # newest first
        disk = snapshot_set.devices[0]
        if snapshot_set.name is None and ':' in snapshot_set.id and disk.blob_uuid not in known:
            found.setdefault(disk.device, snapshot_set)
    return found if all(device in found for device in devices) else None
