# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a snapshot set the cluster is taking, the same way on every server.

A disk's snapshot is done when its blob is a version of the disk's artifact, never by the skip rule or a known
sha512 (0.7.2 hashes a disk snapshot minutes later, so there every snapshot adds a version). An unchanged disk (0.7.2's
NVRAM; newer servers' skip rule) is held as the newest version. Servers with cluster operations report a failure
with its reason; on 0.7.2 a failed snapshot task takes the instance down, so the instance is watched instead.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Optional, Tuple

from ._api import SfApi
from ._errors import SfError, SfNotFound, SfServerError, SfTimeout
from ._instances import READY_STATE
from ._models import ArtifactVersion, Instance
from ._snapshot_sets import SetDevice, SnapshotSet

OP_TYPE = 'node_inst_snap_op'


class SetWaiter:
    def __init__(self, api: SfApi, timeout: float) -> None:
        self.api = api
        self.timeout = timeout

    def wait(self, instance: Instance, snapshot_set: SnapshotSet) -> None:
        """Until every disk of the set is a version of its artifact (or known unchanged), or the snapshot operation
        failed (with the server's reason, where the server reports operations)."""
        op = self._operation(instance)
        pending = {d.blob_uuid: d for d in snapshot_set.devices}

        def settled() -> Optional[bool]:
            for blob_uuid, device in list(pending.items()):
                if self.settle(device):
                    pending.pop(blob_uuid)
            if not pending:
                return True
            if not self.api.features.cluster_operations:
                self._still_there(instance)
            state, message = self._op_state(op)
            if state in ('error', 'abort'):
                raise SfServerError(f'the snapshot of instance {instance.name} failed: '
                                    f'{message or "no reason given"}',
                                    hint='look at the instance with sf-client instance show, then run again')
            if state in ('complete', 'gone'):
                self._unchanged(pending)  # the server skipped versions of disks that did not change
                return True
            return None

        try:
            self.api.wait_until(settled, self.timeout, 'the snapshot finished')
        except SfTimeout:
            waiting = ', '.join(f'{d.device} (blob {d.blob_uuid})' for d in pending.values())
            raise SfTimeout(
                f'the snapshot of {waiting} of instance {instance.name} did not appear within '
                f'{self.timeout:.0f}s', detail={'devices': [d.device for d in pending.values()]},
                hint='a server that does not report snapshot operations (0.7.2) fails a snapshot silently: look at '
                     'the instance events (sf-client instance events); for a large disk raise wait_timeout, or set '
                     'wait: false') from None

    def _still_there(self, instance: Instance) -> None:
        """Without cluster operations (0.7.2) a failed snapshot is seen on the instance: the server puts it in
        `created-error` and deletes it. Fail at once then, not at the deadline."""
        try:
            current = self.api.get_instance(instance.uuid)
        except SfNotFound:
            current = None
        if current is not None and current.state == READY_STATE:
            return
        now = f'now {current.state}' + (f': {current.error_message}' if current.error_message else '') \
            if current is not None else 'gone'
        raise SfServerError(f'the snapshot of instance {instance.name} failed: the instance is {now}',
                            hint='the server deletes an instance whose snapshot task failed; look at its events '
                                 '(sf-client instance events)')

    def settle(self, device: SetDevice) -> bool:
        """Whether this disk's snapshot is done: its blob is a version of the artifact, or the server kept the newest
        version instead because the content had not changed (0.7.2 does so for NVRAM: the blob exists, with the
        newest version's sha512, but is not added). Raises when the blob failed."""
        try:
            blob = self.api.get_blob(device.blob_uuid)
        except SfNotFound:
            return False
        if blob.state == 'error':
            raise SfServerError(f'the snapshot of {device.device} failed (blob {device.blob_uuid} is {blob.state})')
        versions = self.api.artifact_versions(device.artifact_uuid, refresh=True)
        mine = next((v for v in versions if v.uuid == device.blob_uuid), None)
        newest = max(versions, key=lambda v: v.index, default=None)
        found = mine or (newest if blob.sha512 and newest is not None and newest.sha512 == blob.sha512 else None)
        if found is not None:
            self._settled(device, found, unchanged=mine is None)
            return True
        if blob.state == 'deleted':
            raise SfServerError(f'the snapshot of {device.device} failed (blob {device.blob_uuid} is deleted)')
        return False  # made but not added yet: the server adds the version right after

    @staticmethod
    def _settled(device: SetDevice, version: ArtifactVersion, unchanged: bool) -> None:
        """The disk's snapshot is `version`: its own blob, or (unchanged) the newest version it had already."""
        device.blob_uuid, device.version, device.sha512, device.size = version.uuid, version.index, version.sha512, \
            version.size
        device.state, device.unchanged = 'created', unchanged

    def _operation(self, instance: Instance) -> Optional[Dict[str, Any]]:
        if not self.api.features.cluster_operations:
            return None
        with contextlib.suppress(SfError):
            op = self.api.get_instance(instance.uuid).last_cluster_operation or {}
            if op.get('op_type') == OP_TYPE:
                return op
        return None

    def _op_state(self, op: Optional[Dict[str, Any]]) -> Tuple[str, Optional[str]]:
        if op is None:
            return 'unknown', None
        try:
            view = self.api.get_operation(OP_TYPE, str(op.get('op_uuid')))
        except SfNotFound:
            return 'gone', None
        except SfError:
            return 'unknown', None
        return view.state, view.error_message

    def _unchanged(self, pending: Dict[str, SetDevice]) -> None:
        """The operation finished but these blobs had not appeared at the last look: their disks had not changed, and
        the server kept the newest version instead (its skip rule). The set then holds that version, unless the
        disk's own version was added between that look and the operation's end: then it is the disk's own."""
        for device in pending.values():
            versions = self.api.artifact_versions(device.artifact_uuid, refresh=True)
            mine = next((v for v in versions if v.uuid == device.blob_uuid), None)
            newest = mine or max(versions, key=lambda v: v.index, default=None)
            if newest is None:
                raise SfServerError(f'the snapshot of {device.device} made no version')
            self._settled(device, newest, unchanged=mine is None)
