# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which artifact, version and label each instance's disks boot from, and whether that is still what the label (or
the artifact's newest version) points at: the domain of the sf_instances inventory plugin.

Everything is worked out from one instance listing and one artifact listing (`read_instance_images`), never from a
read per instance, so an inventory of a thousand instances costs the same two reads as one of ten. The rules are
documented in docs/inventory.md; `InstanceImages.as_dict()` is the plain form the adapter turns into hosts, groups
and variables (and caches).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ._errors import SfInvalidInput
from ._instances import GONE_STATES
from ._models import Artifact, Instance
from ._refs import validate_name

ALL_NAMESPACES = 'all'
SYSTEM = 'system'
LABEL_PREFIX = 'label:'
LABEL_URL_PREFIX = 'sf://label/'
BLOB_URL_PREFIX = 'sf://blob/'


def safe_group_name(*parts: str) -> str:
    """A group name of [a-z0-9_] only: lower case, every other character an underscore."""
    return re.sub(r'[^a-z0-9_]', '_', '_'.join(parts).lower())


@dataclass(frozen=True)
class DiskImage:
    """One disk with a blob: where its bytes came from and whether that is still current."""

    device: str
    blob_uuid: str
    disk_base: Optional[str] = None
    artifact: Optional[str] = None
    artifact_uuid: Optional[str] = None
    artifact_namespace: Optional[str] = None
    artifact_type: Optional[str] = None
    version: Optional[int] = None
    label: Optional[str] = None
    label_namespace: Optional[str] = None
    label_version: Optional[int] = None
    outdated: bool = False
    reason: str = ''


@dataclass(frozen=True)
class InstanceImages:
    uuid: str
    name: str
    namespace: str
    state: str
    disks: Tuple[DiskImage, ...] = ()
    interfaces: Tuple[Dict[str, Any], ...] = ()
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def outdated(self) -> bool:
        return any(disk.outdated for disk in self.disks)

    @property
    def address(self) -> Optional[str]:
        """The IPv4 address of the first interface (the lowest `order`), when it has one."""
        if not self.interfaces:
            return None
        first = min(self.interfaces, key=interface_order)
        return str(first['ipv4']) if first.get('ipv4') else None

    def groups(self) -> List[str]:
        """The groups this instance belongs to, each a safe group name (docs/inventory.md, Groups)."""
        names = [safe_group_name('sf_namespace', self.namespace)]
        for disk in self.disks:
            if disk.artifact:
                names.append(safe_group_name('sf_artifact', disk.artifact))
                if disk.version is not None:
                    names.append(safe_group_name('sf_artifact', disk.artifact, f'v{disk.version}'))
            if disk.label:
                suffix = self.label_suffix(disk)
                names.append(safe_group_name('sf_label', suffix))
                if disk.outdated:
                    names.append(safe_group_name('sf_outdated', suffix))
        if self.outdated:
            names.append('sf_outdated')
        return list(dict.fromkeys(names))

    def label_suffix(self, disk: DiskImage) -> str:
        """A label of the instance's own namespace or of system goes by its name; any other by `<ns>_<name>`."""
        name = disk.label or ''
        if disk.label_namespace in (self.namespace, SYSTEM):
            return name
        return f'{disk.label_namespace}_{name}'

    def as_dict(self) -> Dict[str, Any]:
        return {'uuid': self.uuid, 'name': self.name, 'namespace': self.namespace, 'state': self.state,
                'disks': [asdict(disk) for disk in self.disks], 'interfaces': [dict(i) for i in self.interfaces],
                'metadata': dict(self.metadata), 'outdated': self.outdated, 'address': self.address,
                'groups': self.groups()}


def interface_order(interface: Dict[str, Any]) -> int:
    order = interface.get('order')
    return order if isinstance(order, int) else 1 << 30


class BlobHolders:
    """Which artifacts hold which blob, and the labels by name, over one artifact listing."""

    def __init__(self, artifacts: Iterable[Artifact]) -> None:
        self.artifacts = [a for a in artifacts if a.state != 'deleted']
        self.holders: Dict[str, List[Tuple[Artifact, int]]] = {}
        for artifact in self.artifacts:
            for index, ref in artifact.blobs.items():
                self.holders.setdefault(ref.uuid, []).append((artifact, int(index)))
        self.labels = [a for a in self.artifacts if a.artifact_type == 'label']

    def artifact_for(self, blob_uuid: str, namespace: str, disk_base: Optional[str]) -> Optional[Tuple[Artifact, int]]:
        """The artifact a disk's blob is a version of. Preference, first difference wins: the artifact the disk base
        names; not a label (an image, snapshot or other artifact is where bytes come from, a label only points);
        the instance's own namespace, then a shared artifact, then any other; the newest version; then the
        artifact's namespace, name and UUID, so the answer never depends on listing order."""
        candidates = self.holders.get(blob_uuid, [])
        if not candidates:
            return None

        def rank(item: Tuple[Artifact, int]) -> Tuple[Any, ...]:
            artifact, index = item
            named = disk_base is not None and disk_base in (artifact.source_url, f'sf://snapshot/{artifact.uuid}',
                                                            f'sf://artifact/{artifact.uuid}')
            reach = 0 if artifact.namespace == namespace else 1 if artifact.shared else 2
            return (not named, artifact.artifact_type == 'label', reach, -index, artifact.namespace,
                    artifact.name, artifact.uuid)

        return min(candidates, key=rank)

    def label_for(self, blob_uuid: str, namespace: str, disk_base: Optional[str]) -> Optional[Artifact]:
        """The label a disk boots from: the one its base names (`label:<name>`: the instance's namespace's label,
        else another label of that name whose versions hold the blob, system's first; `sf://label/<ns>/<name>`:
        exactly that one). A disk whose base is not known, or is a bare `sf://blob/<uuid>`, gets the one label of
        the instance's namespace or system that points at its blob now, if there is exactly one; a base that names
        an image or snapshot keeps to it (a label pointing at the same bytes by chance would otherwise claim the
        disk until the label moves, and then let go of it)."""
        if disk_base and disk_base.startswith(LABEL_PREFIX):
            name = disk_base[len(LABEL_PREFIX):]
            named = sorted((a for a in self.labels if a.name == name),
                           key=lambda a: (a.namespace != namespace, a.namespace != SYSTEM, a.namespace))
            for label in named:
                if label.namespace == namespace or holds(label, blob_uuid):
                    return label
            return None
        if disk_base and disk_base.startswith(LABEL_URL_PREFIX):
            return next((a for a in self.labels if a.source_url == disk_base), None)
        if disk_base and not disk_base.startswith(BLOB_URL_PREFIX):
            return None
        current = [a for a in self.labels if a.namespace in (namespace, SYSTEM) and newest_blob(a) == blob_uuid]
        return current[0] if len(current) == 1 else None


def holds(artifact: Artifact, blob_uuid: str) -> bool:
    return any(ref.uuid == blob_uuid for ref in artifact.blobs.values())


def newest_blob(artifact: Artifact) -> Optional[str]:
    """The blob of the artifact's newest version (what a label points at now)."""
    ref = artifact.blobs.get(artifact.index)
    if ref is not None:
        return ref.uuid
    if artifact.blobs:
        return artifact.blobs[max(artifact.blobs)].uuid
    return artifact.blob_uuid


def version_of(artifact: Artifact, blob_uuid: str) -> Optional[int]:
    found = [int(index) for index, ref in artifact.blobs.items() if ref.uuid == blob_uuid]
    return max(found) if found else None


def disk_bases(instance: Instance) -> List[Optional[str]]:
    """The disk spec `base` of each entry of `disks`, where the two line up. Shaken Fist lays the disks out as
    disk_spec[0], then the config drive (no blob, snapshot_ignores), then disk_spec[1:] (0.7.2
    `_initialize_block_devices`); anything else (a server that lays them out differently) gives no bases."""
    spec = [entry.get('base') if isinstance(entry, dict) else None for entry in instance.disk_spec]
    config_drive = [bool(d.get('snapshot_ignores')) and not d.get('blob_uuid') for d in instance.disks]
    if config_drive.count(False) != len(spec):
        return [None] * len(instance.disks)
    rest = iter(spec)
    bases = [None if is_config else next(rest) for is_config in config_drive]
    return [None if base in (None, '', 'none', 'None') else str(base) for base in bases]


def describe(artifact: Artifact) -> str:
    return f'{artifact.artifact_type} {artifact.namespace}/{artifact.name}'


def disk_image(holders: BlobHolders, namespace: str, device: str, blob_uuid: str,
               disk_base: Optional[str]) -> DiskImage:
    found = holders.artifact_for(blob_uuid, namespace, disk_base)
    label = holders.label_for(blob_uuid, namespace, disk_base)
    values: Dict[str, Any] = {'device': device, 'blob_uuid': blob_uuid, 'disk_base': disk_base}
    if found is not None:
        artifact, index = found
        values.update(artifact=artifact.name, artifact_uuid=artifact.uuid, artifact_namespace=artifact.namespace,
                      artifact_type=artifact.artifact_type, version=index)
    if label is not None:
        values.update(label=label.name, label_namespace=label.namespace, label_version=version_of(label, blob_uuid))
        now = newest_blob(label)
        if now != blob_uuid:
            target = holders.artifact_for(now, namespace, None) if now else None
            where = f' (version {target[1]} of {describe(target[0])})' if target else ''
            had = f'version {values["version"]} of {values["artifact"]}' if found else f'blob {blob_uuid}'
            values.update(outdated=True, reason=f'label {label.namespace}/{label.name} now points at blob {now}'
                                                f'{where}; the disk has {had}')
        else:
            values['reason'] = f'label {label.namespace}/{label.name} still points at this blob'
        return DiskImage(**values)
    if found is not None:
        artifact, index = found
        if artifact.index > index:
            values.update(outdated=True, reason=f'{describe(artifact)} has version {artifact.index}; the disk has '
                                                f'version {index}')
        else:
            values['reason'] = f'version {index} is the newest of {describe(artifact)}'
        return DiskImage(**values)
    gone = f'; the label {disk_base[len(LABEL_PREFIX):]} it names is gone' \
        if disk_base and disk_base.startswith(LABEL_PREFIX) else ''
    values['reason'] = f'no artifact visible to this inventory holds blob {blob_uuid}{gone}'
    return DiskImage(**values)


def instance_images(instance: Instance, holders: BlobHolders) -> InstanceImages:
    disks = []
    for disk, base in zip(instance.disks, disk_bases(instance)):
        blob_uuid = disk.get('blob_uuid')
        if not blob_uuid:
            continue  # a blank disk or the config drive: it boots nothing
        disks.append(disk_image(holders, instance.namespace, str(disk.get('device')), str(blob_uuid), base))
    return InstanceImages(uuid=instance.uuid, name=instance.name, namespace=instance.namespace, state=instance.state,
                          disks=tuple(disks), interfaces=tuple(i for i in instance.interfaces if isinstance(i, dict)),
                          metadata=dict(instance.metadata))


def check_namespaces(caller: str, namespaces: Optional[Sequence[str]]) -> Optional[List[str]]:
    """The namespaces to read (None: every namespace), refused before anything is read when the caller cannot
    list them: GET /instances lists only the caller's own namespace, unless the caller is system (trust does not
    widen it)."""
    wanted = list(namespaces) if namespaces else [caller]
    if ALL_NAMESPACES in wanted:
        if caller != SYSTEM:
            raise SfInvalidInput(f'namespaces: {ALL_NAMESPACES} needs the system namespace; namespace {caller!r} can '
                                 'list only its own instances', hint='authenticate as system, or leave namespaces out')
        return None
    for name in wanted:
        validate_name(name, 'namespace')
    others = sorted(set(wanted) - {caller})
    if others and caller != SYSTEM:
        raise SfInvalidInput(f'namespace {caller!r} can list only its own instances, not those of '
                             f'{", ".join(map(repr, others))} (Shaken Fist lists instances by namespace and trust '
                             'does not widen that)', hint='authenticate as system to read other namespaces')
    return list(dict.fromkeys(wanted))


def images_of(instances: Iterable[Instance], artifacts: Iterable[Artifact],
              namespaces: Optional[Sequence[str]]) -> List[InstanceImages]:
    """Per-instance records from one instance listing and one artifact listing, in (namespace, name, uuid) order;
    deleted and deleting instances left out."""
    holders = BlobHolders(artifacts)
    chosen = [i for i in instances if i.state not in GONE_STATES and (namespaces is None or i.namespace in namespaces)]
    chosen.sort(key=lambda i: (i.namespace, i.name, i.uuid))
    return [instance_images(instance, holders) for instance in chosen]


def read_instance_images(api: Any, namespaces: Optional[Sequence[str]] = None) -> List[InstanceImages]:
    """Check the namespaces, then read the instances and the artifacts once each: two listings for the whole
    inventory, however many instances and disks."""
    chosen = check_namespaces(api.namespace, namespaces)
    instances = api.list_instances()
    wanted = [i for i in instances if chosen is None or i.namespace in chosen]
    booted = any(disk.get('blob_uuid') for i in wanted for disk in i.disks)
    artifacts = api.list_artifacts() if booted else []  # nothing boots from a blob: nothing to look up
    return images_of(wanted, artifacts, chosen)


def inventory_records(records: Sequence[InstanceImages]) -> List[Dict[str, Any]]:
    """The plain form of the records (what the inventory caches), each with its host name: the instance name when
    no other instance of the inventory has it, else `<name>_<first 8 characters of the UUID>`."""
    counts: Dict[str, int] = {}
    for record in records:
        counts[record.name] = counts.get(record.name, 0) + 1
    return [{**record.as_dict(),
             'host': record.name if counts[record.name] == 1 else f'{record.name}_{record.uuid[:8]}'}
            for record in records]
