# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshot sets: the per-disk snapshot versions one snapshot operation made, read back as one object.

The server keeps one `snapshot` artifact per instance disk (`sf://instance/<uuid>/<device>`) and adds a version to
it on every snapshot; nothing ties the disks of one operation together. This collection records each version it
made in its artifact's metadata, keyed by the version's blob (`shakenfist.storage.snapshot.<blob uuid>`: the set's
id, name, time, instance and devices). A key per blob is written once, by the run that took the snapshot, so
concurrent runs never overwrite each other's entries, and it is known as soon as the server answers (the blob
UUID is allocated up front), before the snapshot is finished. Versions without such an entry (taken by other
clients) are sets of one disk, without a name.

A disk that had not changed gets no new version (the server keeps its newest one), so a set may hold a version
another set recorded first: that is written as a hold, `shakenfist.storage.snapshot.<blob uuid>.<set id>`, and a
version is deleted only with the last set that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._api import SfApi, newest_first
from ._errors import SfNotFound
from ._instances import GONE_STATES, find_instance
from ._models import Instance
from ._object_metadata import artifact_metadata
from ._options import Options, option
from ._refs import is_uuid, validate_name

SET_PREFIX = 'shakenfist.storage.snapshot.'


def set_key(blob_uuid: str) -> str:
    return f'{SET_PREFIX}{blob_uuid}'


def hold_key(blob_uuid: str, set_id: str) -> str:
    """Set `set_id` also holds this version (its disk had not changed since the set that made it)."""
    return f'{set_key(blob_uuid)}.{set_id}'


@dataclass
class SetDevice:
    device: str
    artifact_uuid: str
    blob_uuid: str
    version: Optional[int] = None
    sha512: Optional[str] = None
    size: Optional[int] = None
    state: str = 'created'
    unchanged: bool = False  # the disk had not changed: this task's snapshot is the newest version it already had

    def key(self, set_id: str) -> str:
        """The metadata key that records this disk as part of set `set_id`."""
        return hold_key(self.blob_uuid, set_id) if self.unchanged else set_key(self.blob_uuid)

    def as_dict(self) -> Dict[str, Any]:
        return {'device': self.device, 'artifact_uuid': self.artifact_uuid, 'version': self.version,
                'blob_uuid': self.blob_uuid, 'sha512': self.sha512, 'size': self.size, 'state': self.state,
                'unchanged': self.unchanged, 'ref': f'sf://snapshot/{self.artifact_uuid}',
                'disk_base': f'sf://blob/{self.blob_uuid}'}


@dataclass
class SnapshotSet:
    id: str
    name: Optional[str]
    instance_uuid: str
    instance_name: Optional[str]
    created: float
    devices: List[SetDevice] = field(default_factory=list)
    labels: List[str] = field(default_factory=list)

    def blobs(self) -> List[str]:
        return [d.blob_uuid for d in self.devices]

    def as_dict(self) -> Dict[str, Any]:
        return {'id': self.id, 'name': self.name, 'instance': {'uuid': self.instance_uuid, 'name': self.instance_name},
                'created': self.created, 'devices': [d.as_dict() for d in self.devices], 'labels': list(self.labels)}

    def summary(self) -> str:
        return f'{self.name or self.id} ({", ".join(d.device for d in self.devices)})'


def set_entry(set_id: str, name: Optional[str], created: float, instance: Instance, devices: List[str]) -> Dict:
    """What is recorded for each disk version of a set."""
    return {'set': set_id, 'name': name, 'created': created, 'instance': instance.uuid,
            'instance_name': instance.name, 'devices': list(devices)}


def _entries(metadata: Dict[str, Any], blob_uuid: str) -> Iterator[Tuple[Dict[str, Any], bool]]:
    """The set records of one version: the set that made it, then the sets that hold it (True)."""
    made = set_key(blob_uuid)
    for key in [made] + sorted(key for key in metadata if str(key).startswith(made + '.')):
        entry = metadata.get(key)
        if isinstance(entry, dict) and entry.get('set'):
            yield entry, key != made


def read_sets(api: SfApi, instance_uuid: str, instance_name: Optional[str] = None,
              refresh: bool = False) -> List[SnapshotSet]:
    """Every snapshot set of an instance, newest first, with the labels that point at each."""
    index = api.index(refresh)
    sets: Dict[str, SnapshotSet] = {}
    for artifact in index.of_instance(instance_uuid):
        device = artifact.source_url.rstrip('/').rsplit('/', 1)[-1]  # sf://instance/<uuid>/<device>
        if device == 'console':
            continue
        metadata = artifact_metadata(api, artifact, SET_PREFIX, owned_only=False)
        for version in newest_first(api.artifact_versions(artifact.uuid, refresh=refresh)):
            made = float(version.fetched_at or version.modified or 0)
            # A version no set records was taken by another tool: a set of one disk, without a name.
            alone = {'set': f'{artifact.uuid}:{version.index}'}
            for entry, held in list(_entries(metadata, version.uuid)) or [(alone, False)]:
                set_id = str(entry['set'])
                found = sets.setdefault(set_id, SnapshotSet(
                    set_id, entry.get('name'), instance_uuid, entry.get('instance_name') or instance_name,
                    float(entry.get('created') or made)))
                found.devices.append(SetDevice(device, artifact.uuid, version.uuid, version.index, version.sha512,
                                               version.size, version.state, unchanged=held))
    labels = index.labels(None)
    for snapshot_set in sets.values():
        snapshot_set.devices.sort(key=lambda d: d.device)
        blobs = snapshot_set.blobs()
        snapshot_set.labels = sorted({label.ref for label in labels if label.blob_uuid in blobs})
    return sorted(sets.values(), key=lambda s: s.created, reverse=True)


@dataclass
class SnapshotQuery(Options):
    """What sf_snapshot_info was asked for; the fields are its options."""

    instance: Optional[str] = option(type='str')
    target: Optional[str] = option(type='str', name='target_namespace')
    name: Optional[str] = option(type='str')

    def validate(self) -> None:
        if self.target is not None:
            validate_name(self.target, 'target_namespace')


class SnapshotReader:
    """sf_snapshot_info's view: per instance, its sets (only those called `name` when given), newest first."""

    def __init__(self, api: SfApi, query: SnapshotQuery) -> None:
        self.api = api
        self.query = query

    def read(self) -> Dict[str, Any]:
        """The result: `instances`, and with `instance` also that one's `instance` and `sets` (empty, not an error,
        when there is no such instance)."""
        query = self.query
        if query.instance is None:
            return {'instances': self.instances(query.target or self.api.namespace)}
        entry = self.instance(query.instance, query.target)
        return {'instances': [entry] if entry else [], 'instance': entry['instance'] if entry else None,
                'sets': entry['sets'] if entry else []}

    def instance(self, ref: str, namespace: Optional[str]) -> Optional[Dict[str, Any]]:
        """The entry of one instance, or None when there is no such instance. A deleted instance's snapshots stay,
        so its UUID still finds them. A malformed or ambiguous reference is an error."""
        try:
            instance = find_instance(self.api, ref, namespace)
        except SfNotFound:
            uuid = ref.strip().lower()
            owner = self._snapshotted(namespace).get(uuid) if is_uuid(uuid) else None
            return self._entry(uuid, None, owner) if owner else None
        return self._entry(instance.uuid, instance.name, instance.namespace)

    def instances(self, namespace: str) -> List[Dict[str, Any]]:
        """The entries of every instance with snapshots in `namespace`, deleted ones included; with a set name,
        only the instances that have such a set."""
        names = {i.uuid: i.name for i in self.api.list_instances() if i.state not in GONE_STATES}
        found = [self._entry(uuid, names.get(uuid), owner) for uuid, owner in self._snapshotted(namespace).items()]
        found = [entry for entry in found if entry['sets'] or not self.query.name]
        return sorted(found, key=lambda e: (e['instance']['namespace'], e['instance']['name'] or '',
                                            e['instance']['uuid']))

    def _snapshotted(self, namespace: Optional[str]) -> Dict[str, str]:
        """The instances (UUID: owning namespace) with snapshot artifacts in `namespace` (None: any I can see)."""
        return {a.source_url.split('/')[3]: a.namespace for a in self.api.index().of_instance(None, namespace)}

    def _entry(self, uuid: str, name: Optional[str], namespace: str) -> Dict[str, Any]:
        sets = [s.as_dict() for s in read_sets(self.api, uuid, name) if self.query.name in (None, s.name)]
        return {'instance': {'uuid': uuid, 'name': name, 'namespace': namespace}, 'sets': sets}
