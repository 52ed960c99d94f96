# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots as a domain object: decide whether to take a set, take it, label it, apply retention; as a Plan.

Idempotency is the user's choice and never guessed: a set `name` (no new set when the instance has one of that
name), `min_age` (no new set while the newest is younger) or `force`. Retention (`keep`, `older_than`) deletes whole
sets, oldest first, and keeps any set a label points at unless `force`. See docs/snapshots.md.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._api import SfApi
from ._confirm import version_gone
from ._durations import parse_duration
from ._errors import SfError, SfInvalidInput, SfNotFound, SfServerError, outcome_unknown
from ._instances import disk_devices, find_instance, ready_instance
from ._label_plan import LabelPlanner
from ._labels import LabelRequest, LabelState, LabelVersion
from ._local_state import DEFAULT_STATE_DIR, Locks, StateDir
from ._metadata import add_metadata_steps, check_metadata, user_metadata
from ._models import Instance, SnapshotRef
from ._options import Options, check_wait_timeout, option, wait_option, wait_timeout_option
from ._plan import Plan, Step
from ._refs import validate_count, validate_name
from ._resolver import Resolver
from ._snapshot_recovery import Recovery
from ._snapshot_sets import SetDevice, SnapshotSet, read_sets, set_entry, set_key
from ._snapshot_wait import SetWaiter
from ._words import named, verb

Kept = Tuple[SnapshotSet, str]  # a set retention would delete, and why it stays


@dataclass
class SnapshotRequest(Options):
    """sf_snapshot's options."""

    instance: str = option(type='str', required=True)
    target: Optional[str] = option(type='str', name='target_namespace')
    devices: Union[None, str, Sequence[str]] = option(type='raw')
    thin: bool = option(False, type='bool')
    name: Optional[str] = option(type='str')
    min_age: Any = option(type='str')
    force: bool = option(False, type='bool')
    wait: bool = wait_option()
    wait_timeout: float = wait_timeout_option()
    label: Optional[str] = option(type='str')
    label_create: bool = option(True, type='bool')
    keep: Optional[int] = option(type='int')
    older_than: Any = option(type='str')
    state: str = option('present', type='str', choices=['present', 'absent'])
    metadata: Optional[Dict[str, Any]] = option(type='dict')
    metadata_mode: str = option('merge', type='str', choices=['merge', 'replace'])


@dataclass
class Taken:
    """What the snapshot step made, filled in while it runs."""

    snapshot_set: Optional[SnapshotSet] = None
    answers: Dict[str, SnapshotRef] = field(default_factory=dict)


class Snapshotter:
    def __init__(self, api: SfApi, resolver: Resolver, request: SnapshotRequest, *,
                 clock: Any = time.time, state_dir: Optional[str] = DEFAULT_STATE_DIR) -> None:
        self.api = api
        self.request = request
        self.state = StateDir(state_dir) if state_dir else None
        self.locks = Locks(self.state)
        self.labels = LabelPlanner(api, resolver, LabelRequest(name=request.label or '', create=request.label_create),
                                   self.locks)
        self.clock = clock
        self.taken = Taken()
        self.metadata_after: Dict[str, Dict[str, Any]] = {}
        self.kept: List[Kept] = []
        self.doomed: List[SnapshotSet] = []
        self.label_name: Tuple[str, str] = ('', '')
        self.label_ref: Optional[str] = None
        self.min_age: Optional[float] = None
        self.older_than: Optional[float] = None
        self.prune_only = False
        self.adopted: List[str] = []  # devices whose snapshot came from a request whose answer was lost

    def __enter__(self) -> Snapshotter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.locks.release()

    # Validation: everything is checked before anything is read or written.
    def validate(self) -> None:
        request = self.request
        if request.target is not None:
            validate_name(request.target, 'target_namespace')
        if request.name is not None:
            validate_name(request.name, 'name')
        if request.min_age is not None:
            self.min_age = parse_duration(request.min_age, 'min_age')
        if request.older_than is not None:
            self.older_than = parse_duration(request.older_than, 'older_than')
        if request.keep is not None:
            validate_count(request.keep, 'keep', 1, ' (the number of newest sets to keep)',
                           hint='to delete every set, use state: absent with each set name, or older_than with a '
                                'short duration (labelled sets stay unless force)')
        check_wait_timeout(request.wait_timeout)
        request.metadata = check_metadata(request.metadata, request.metadata_mode)
        devices = request.devices
        if devices is not None and devices != 'all' and not (
                isinstance(devices, list) and devices and all(isinstance(d, str) and d for d in devices)):
            raise SfInvalidInput(f"devices must be 'all' or a non-empty list of device names, got {devices!r}")
        if request.state == 'absent':
            extra = [option for option in ('metadata', 'label') if getattr(request, option) is not None]
            if extra:
                raise SfInvalidInput(f'{" and ".join(extra)} {verb(len(extra), "is", "are")} only used with state: '
                                     'present', hint='state absent only deletes the named set; move or delete a '
                                                     'label with shakenfist.storage.sf_label')
            if not request.name:
                raise SfInvalidInput('state absent deletes a named snapshot set: give its name',
                                     hint='to delete sets by age or count, use state: present with keep or older_than')
            return
        if request.label and not request.wait:
            raise SfInvalidInput('label needs wait: true (a label can only point at a finished snapshot)')
        # Retention alone (keep or older_than, and nothing that says when to take a set) prunes without taking one.
        self.prune_only = (not request.name and request.min_age is None and not request.force
                           and (request.keep is not None or request.older_than is not None))
        if self.prune_only:
            extra = [option for option in ('devices', 'label', 'metadata') if getattr(request, option) is not None]
            if extra:
                raise SfInvalidInput(f'{", ".join(extra)} only apply to a set being taken or found, and without name, '
                                     'min_age or force this task only prunes (keep, older_than)',
                                     hint='add name, min_age or force: true to take a set as well')

    def plan(self) -> Plan:
        self.validate()
        request = self.request
        instance = find_instance(self.api, request.instance, request.target)
        # Runs on this host take turns per instance, from the first read of its sets to the last write, so each run
        # sees the set the one before took (a name means one set), and raises max_versions for what it adds.
        self.locks.take(f'instance:{self.api.url}:{instance.uuid}')
        if request.state == 'present' and not self.prune_only:
            # A booting instance has no disks yet: wait (reads only, so check mode too), as wait_timeout promises.
            instance = ready_instance(self.api, instance, request.wait_timeout)
        self.instance = instance
        sets = read_sets(self.api, instance.uuid, instance.name)
        plan = Plan(before={'sets': [s.summary() for s in sets]}, finish=self.finish)
        self.recovery = Recovery(self.api, self.state, instance, sets, request.wait_timeout)
        if request.state == 'absent':
            self.doomed = [s for s in sets if s.name == request.name]
            if not self.doomed:
                plan.note(f'instance {instance.name} has no snapshot set {request.name!r}')
            for snapshot_set in self.doomed:
                self._add_delete(plan, snapshot_set, f'delete snapshot set {snapshot_set.summary()}', sets, self.doomed)
            self._predict(plan, sets, None, None)
            return plan
        sets = self.recovery.finish_killed_run(plan, sets)
        devices = [] if self.prune_only else self.devices(instance)
        label_before = self._check_label(devices)
        taking, existing = (False, None) if self.prune_only else self.decide(sets)
        if taking:
            plan.add('snapshot', f'snapshot {", ".join(devices)} of instance {instance.name} ({instance.uuid})'
                                 f'{" as set " + repr(request.name) if request.name else ""}',
                     lambda step: self._take(step, instance, devices))
        elif existing is not None:
            plan.note(self._why_not(existing))
        if label_before is not None:
            self._add_label(plan, label_before, None if taking else existing)
        targets = devices if taking else [d.device for d in existing.devices] if existing is not None else []
        self._add_metadata(plan, sets, targets)
        self.kept, self.doomed = self.retention(sets, taking)
        for snapshot_set, reason in self.kept:
            plan.note(f'keep snapshot set {snapshot_set.summary()}: {reason}', kind='keep')
        for snapshot_set in self.doomed:
            self._add_delete(plan, snapshot_set, f'delete snapshot set {snapshot_set.summary()} '
                                                 f'(created {_when(snapshot_set.created)})', sets, self.doomed)
        self._predict(plan, sets, devices if taking else None, existing)
        if self.metadata_after:
            plan.result['metadata'] = dict(self.metadata_after)
        return plan

    # Metadata
    def _add_metadata(self, plan: Plan, sets: List[SnapshotSet], devices: List[str]) -> None:
        """The user's keys on the snapshot artifact of each disk of the set taken (or found), one write per key that
        differs. A disk snapshotted before has its artifact already; a new one gets it from the snapshot step."""
        request = self.request
        if request.metadata is None:
            return
        for device in devices:
            known = next((d.artifact_uuid for s in sets for d in s.devices if d.device == device), None)
            current = self.api.get_metadata(known) if known else {}
            self.metadata_after[device] = add_metadata_steps(
                plan, self.api, functools.partial(self._artifact_of, device, known),
                f'the snapshot artifact of {device}', current, request.metadata, request.metadata_mode)

    def _artifact_of(self, device: str, known: Optional[str]) -> str:
        """Asked when the metadata steps run, after the snapshot step has the artifact of a disk new to it."""
        answer = self.taken.answers.get(device)
        found = answer.artifact_uuid if answer is not None else known
        if not found:
            raise SfNotFound(f'there is no snapshot artifact of {device} to set metadata on')
        return found

    # What to take
    def devices(self, instance: Instance) -> List[str]:
        known = disk_devices(instance)
        wanted = self.request.devices
        if wanted is None:
            if not known:
                raise SfInvalidInput(f'instance {instance.name} has no disk to snapshot')
            return known[:1]
        if wanted == 'all':
            return known
        unknown = [d for d in wanted if d not in known]
        if unknown:
            raise SfInvalidInput(f'instance {instance.name} has no device {", ".join(map(repr, unknown))}; it has '
                                 f'{", ".join(known) or "none"}')
        return list(dict.fromkeys(wanted))

    def decide(self, sets: List[SnapshotSet]) -> Tuple[bool, Optional[SnapshotSet]]:
        """Whether to take a new set, and the set that makes it unnecessary."""
        request = self.request
        if request.force:
            return True, None
        if request.name:
            named = [s for s in sets if s.name == request.name]
            return (not named), (named[0] if named else None)
        if self.min_age is not None:
            newest = sets[0] if sets else None
            young = newest is not None and self.clock() - newest.created < self.min_age
            return (not young), (newest if young else None)
        raise SfInvalidInput('say when a new snapshot set is wanted: name (one set of that name per instance), '
                             'min_age (a new set only when the newest is older), or force: true (always); or give '
                             'only keep or older_than to prune without taking a set',
                             hint='this module never guesses: without one of them every run would add a set')

    def _why_not(self, existing: SnapshotSet) -> str:
        if self.request.name:
            return f'instance {self.instance.name} already has snapshot set {existing.summary()}'
        return f'the newest snapshot set {existing.summary()} is younger than min_age ({_when(existing.created)})'

    # Taking the set
    def _take(self, step: Step, instance: Instance, devices: List[str]) -> None:
        request = self.request
        set_id, created = str(uuidlib.uuid4()), self.clock()
        self._room_for(instance)
        answers: Dict[str, SnapshotRef] = {}
        self.recovery.remember(set_id, request.name, created, devices)
        if request.devices == 'all':
            # One operation for every disk; the server leaves out the ones it never snapshots (the config drive).
            answers = self._ask(instance, None, devices)
            if not answers:
                raise SfServerError(f'the cluster took no snapshot of any disk of instance {instance.name}')
        for device in devices if request.devices != 'all' else []:
            taken = self._ask(instance, device, [device])
            if device not in taken:
                raise SfServerError(f'the cluster took no snapshot of {device} (it answered {sorted(taken)})')
            answers[device] = taken[device]
        self.taken.answers = answers
        entry = set_entry(set_id, request.name, created, instance, sorted(answers))
        for ref in answers.values():
            # Recorded at once: the blob UUID is allocated before the snapshot exists, so even wait: false keeps it.
            self.api.set_metadata(ref.artifact_uuid, set_key(ref.blob_uuid), entry)
        self.recovery.forget()
        snapshot_set = SnapshotSet(set_id, request.name, instance.uuid, instance.name, created, [
            SetDevice(device, ref.artifact_uuid, ref.blob_uuid, state='initial') for device, ref in answers.items()])
        self.taken.snapshot_set = snapshot_set
        if not request.wait:
            step.result = f'{step.text}: asked, not waiting ({", ".join(a.blob_uuid for a in answers.values())})'
            return
        SetWaiter(self.api, request.wait_timeout).wait(instance, snapshot_set)
        for disk in snapshot_set.devices:
            if disk.unchanged:
                # The set holds the newest version instead of a new one: record that, and drop the record of the
                # blob the server never added.
                self.api.set_metadata(disk.artifact_uuid, disk.key(set_id), entry)
                with contextlib.suppress(SfError):
                    self.api.delete_metadata(disk.artifact_uuid, set_key(answers[disk.device].blob_uuid))
        step.result = f'{step.text}: ' + ', '.join(
            f'{d.device} version {d.version}' + (' (unchanged: its newest version)' if d.unchanged else '')
            for d in snapshot_set.devices) + (
            f' (the answer was lost; the snapshot the cluster took of {", ".join(self.adopted)} was found and '
            'recorded, not taken again)' if self.adopted else '')

    def _ask(self, instance: Instance, device: Optional[str], expected: List[str]) -> Dict[str, SnapshotRef]:
        """One snapshot request. When its answer is lost (no answer, or an error the server may have sent after
        acting), the server may have taken it: find out, and never ask again."""
        request = self.request
        try:
            return self.api.snapshot_instance(instance.uuid, all_disks=device is None, device=device,
                                              thin=request.thin, max_versions=self._versions_needed(),
                                              ready_within=request.wait_timeout)
        except SfError as exc:
            if not outcome_unknown(exc):
                raise
            adopted = self.recovery.adopt(expected, exc)
            self.adopted = sorted(adopted)
            return adopted

    def _versions_needed(self) -> Optional[int]:
        """Room for `keep` sets plus the new one, so the server's own trimming never runs ahead of retention."""
        return self.request.keep + 1 if self.request.keep else None

    def _room_for(self, instance: Instance) -> None:
        """Sets are deleted by retention only, never trimmed by the server behind the user's back: make room on each
        disk's artifact for every version it has plus the new one (and for keep + 1)."""
        for artifact in self.api.index().of_instance(instance.uuid):
            needed = max(len(artifact.blobs) + 1, self._versions_needed() or 0)
            if artifact.max_versions < needed:
                self.api.set_max_versions(artifact.uuid, needed)

    # The label
    def _check_label(self, devices: List[str]) -> Optional[LabelState]:
        request = self.request
        if not request.label:
            return None
        if len(devices) != 1:
            raise SfInvalidInput(f'label points at one disk, and this snapshot has {len(devices)} '
                                 f'({", ".join(devices)})', hint='snapshot one device (devices: [vda]) to label it')
        before = self.labels.check()
        self.label_name = (before.namespace, before.name)
        self.label_ref = before.ref
        return before

    def _add_label(self, plan: Plan, before: LabelState, existing: Optional[SnapshotSet]) -> None:
        if existing is not None and before.current and before.current.blob_uuid == existing.devices[0].blob_uuid:
            plan.note(f'label {before.ref} already points at snapshot set {existing.summary()}')
            return
        wanted = LabelVersion(before.newest_version + 1, existing.devices[0].blob_uuid if existing else '')
        step = self.labels.add_point(plan, before, wanted, pending='the snapshot this task takes')
        point = step.run

        def run(step: Step) -> None:
            snapshot_set = self.taken.snapshot_set or existing
            if snapshot_set is None:
                raise SfNotFound('there is no snapshot to point the label at')
            device = snapshot_set.devices[0]
            wanted.blob_uuid, wanted.sha512, wanted.size = device.blob_uuid, device.sha512, device.size
            wanted.resolved_from = {'input': self.request.instance, 'ref': f'sf://snapshot/{device.artifact_uuid}',
                                    'version': device.version, 'snapshot_set': snapshot_set.name or snapshot_set.id}
            if point is not None:
                point(step)

        step.run = run

    # Retention
    def retention(self, sets: List[SnapshotSet], taking: bool) -> Tuple[List[Kept], List[SnapshotSet]]:
        """(sets kept with the reason, sets to delete). With both keep and older_than, a set is deleted only when
        both say so. A new set counts as the newest."""
        request = self.request
        if request.keep is None and self.older_than is None:
            return [], []
        keep_newest = (request.keep or 0) - (1 if taking else 0)
        now = self.clock()
        kept: List[Kept] = []
        doomed: List[SnapshotSet] = []
        for position, snapshot_set in enumerate(sets):
            beyond_keep = request.keep is None or position >= keep_newest
            old = self.older_than is None or now - snapshot_set.created > self.older_than
            if not (beyond_keep and old):
                continue
            if snapshot_set.labels and not request.force:
                labels = snapshot_set.labels
                kept.append((snapshot_set, f'{named("label", labels)} {verb(len(labels), "points", "point")} at it '
                                           '(force: true deletes it anyway)'))
                continue
            doomed.append(snapshot_set)
        return kept, doomed

    def _add_delete(self, plan: Plan, snapshot_set: SnapshotSet, text: str, sets: List[SnapshotSet],
                    doomed: List[SnapshotSet]) -> None:
        # A version another remaining set holds (its disk had not changed) stays; only this set's record of it goes.
        held = {blob for other in sets if other not in doomed for blob in other.blobs()}
        owned = [d for d in snapshot_set.devices if d.version is not None and d.blob_uuid not in held]

        def run(step: Step) -> None:
            for device in snapshot_set.devices:
                if device in owned:
                    # Gone already (trimmed, or deleted by another run) is what we wanted.
                    with contextlib.suppress(SfNotFound):
                        self.api.delete_version(device.artifact_uuid, device.version or 0)
                with contextlib.suppress(SfError):
                    self.api.delete_metadata(device.artifact_uuid, device.key(snapshot_set.id))

        def confirm() -> bool:
            return all(version_gone(self.api, d.artifact_uuid, d.version or 0)() for d in owned)

        plan.add('delete_set', text, run, confirm)

    # Views
    def _predict(self, plan: Plan, sets: List[SnapshotSet], taking: Optional[List[str]],
                 existing: Optional[SnapshotSet]) -> None:
        """Check mode's result: the sets as a real run leaves them, in the shape it returns them (a set about to be
        taken has no id, time, version or blob yet: those are null), and the diff's summaries. `existing` is the
        set found instead of taking one."""
        remaining = [s for s in sets if s not in self.doomed]
        summaries = [s.summary() for s in remaining]
        predicted = [s.as_dict() for s in remaining]
        if taking is not None:
            summaries.insert(0, f'{self.request.name or "(new set)"} ({", ".join(taking)})')
            predicted.insert(0, self._new_set(taking, sets))
        chosen = predicted[0] if taking is not None else None if existing is None else next(
            (view for view in predicted if view['id'] == existing.id), existing.as_dict())
        if self.label_ref is not None and chosen is not None:
            # The label moves to the set taken (or found): it no longer points at any other.
            for view in predicted:
                others = set(view['labels']) - {self.label_ref}
                view['labels'] = sorted(others | {self.label_ref} if view is chosen else others)
        plan.after = {'sets': summaries}
        plan.result = self._result(predicted)
        if chosen is not None:
            plan.result['snapshot_set'] = chosen

    def _new_set(self, devices: List[str], sets: List[SnapshotSet]) -> Dict[str, Any]:
        views = []
        for device in devices:
            known = next((d.artifact_uuid for s in sets for d in s.devices if d.device == device), None)
            views.append({'device': device, 'artifact_uuid': known, 'version': None, 'blob_uuid': None,
                          'sha512': None, 'size': None, 'state': 'created' if self.request.wait else 'initial',
                          'unchanged': None, 'ref': f'sf://snapshot/{known}' if known else None, 'disk_base': None})
        return {'id': None, 'name': self.request.name,
                'instance': {'uuid': self.instance.uuid, 'name': self.instance.name}, 'created': None,
                'devices': sorted(views, key=lambda view: view['device']), 'labels': []}

    def _result(self, sets: List[Dict[str, Any]]) -> Dict[str, Any]:
        """What check mode predicts and a run returns alike: the instance, its sets, what retention did."""
        instance = self.instance
        return {'instance': {'uuid': instance.uuid, 'name': instance.name, 'namespace': instance.namespace},
                'sets': sets, 'deleted': [s.as_dict() for s in self.doomed],
                'kept': [{'id': s.id, 'name': s.name, 'reason': reason} for s, reason in self.kept]}

    def finish(self) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        sets = read_sets(self.api, self.instance.uuid, self.instance.name, refresh=True)
        result = self._result([s.as_dict() for s in sets])
        if self.request.label:
            result['label'] = self.labels.reader.read(*self.label_name).as_dict()
        taken = self.taken.snapshot_set
        if taken is not None:
            stored = next((s for s in sets if s.id == taken.id), None)
            result['snapshot_set'] = (stored or taken).as_dict()
        elif self.request.name and self.request.state == 'present':
            named = next((s for s in sets if s.name == self.request.name), None)
            if named is not None:
                result['snapshot_set'] = named.as_dict()
        if self.request.metadata is not None:
            result['metadata'] = {}
            for device in result.get('snapshot_set', {}).get('devices', []):
                with contextlib.suppress(SfError):
                    result['metadata'][device['device']] = user_metadata(self.api.get_metadata(device['artifact_uuid']))
        return {'sets': [s.summary() for s in sets]}, result


def _when(timestamp: float) -> str:
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(timestamp))
