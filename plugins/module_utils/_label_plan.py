# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning label changes: create, move, roll back, retention, sharing, metadata and delete, as Plans.

Everything is read and checked (sharing rules, typos, what the target resolves to) before the plan is returned,
so a refused change writes nothing and check mode shows exactly what a real run would do.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ._api import SfApi
from ._confirm import artifact_gone, artifact_is, version_gone
from ._errors import SfAmbiguousReference, SfError, SfForbidden, SfInvalidInput, SfNotFound, SfNotReady
from ._labels import (
    PENDING_KEY,
    RESOLVED_FROM_KEY,
    SERVER_DEFAULT_MAX_VERSIONS,
    LabelReader,
    LabelRequest,
    LabelState,
    LabelVersion,
    check_write,
    read_resolved_from,
    resolved_from_key,
    rollback_target,
    split_label_name,
)
from ._local_state import Locks
from ._metadata import RESERVED_PREFIX, add_metadata_steps, check_metadata
from ._plan import Plan, Step
from ._refs import validate_count
from ._resolver import Resolution, Resolver, near_refs


@dataclass
class Written:
    """What the steps of one label plan learned while running (the UUID of a label they created)."""

    uuid: Optional[str]

    def id(self) -> str:
        return self.uuid or ''


class LabelPlanner:
    """The changes to one label (`request.name`): sf_label's task, and the label step of sf_snapshot and
    sf_image_publish."""

    def __init__(self, api: SfApi, resolver: Resolver, request: LabelRequest, locks: Optional[Locks] = None) -> None:
        self.api = api
        self.resolver = resolver
        self.request = request
        self.reader = LabelReader(api, resolver)
        self.locks = locks

    def __enter__(self) -> LabelPlanner:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.locks is not None:
            self.locks.release()

    def _take_turn(self, namespace: str, name: str) -> None:
        """Runs on this host take turns per label, from its first read to its last write: a run that waited reads
        what the one before did, so it neither makes nor reports that change again."""
        if self.locks is not None:
            self.locks.take(f'label:{self.api.url}:{namespace}:{name}')

    @property
    def caller(self) -> str:
        return self.api.namespace

    # Targets
    def resolve_target(self, label: LabelState) -> Tuple[LabelVersion, List[str]]:
        """The version the label should point at, and warnings from resolution."""
        request = self.request
        if request.rollback is not None:
            if not label.exists:
                raise SfNotFound(f'cannot roll back {label.ref}: it does not exist')
            old = rollback_target(label.history, request.rollback, label.ref)
            source = dict(old.resolved_from or {'ref': f'sf://blob/{old.blob_uuid}'})
            source['via'] = f'rollback {request.rollback} (to the blob of version {old.version})'
            return LabelVersion(0, old.blob_uuid, old.sha512, old.size, source), []
        if request.blob:
            found = self.resolver.resolve(f'sf://blob/{request.blob}', sha512=request.target_sha512)
            return self._from_resolution(found, request.blob), []
        if not request.target:
            raise SfInvalidInput(f'{label.ref} does not exist yet: give target (an image name or any reference) '
                                 'to create it')
        found = self._resolve_excluding_self(label)
        if not found.blob_uuid:
            raise SfNotReady(f'{request.target!r} means {found.ref}, which has not been fetched into the cluster '
                             'yet, so a label cannot point at it',
                             hint='publish or cache the image first (shakenfist.storage.sf_image_publish)')
        return self._from_resolution(found, request.target), list(found.warnings)

    def _resolve_excluding_self(self, label: LabelState) -> Resolution:
        request = self.request
        try:
            return self.resolver.resolve(request.target or '', version=request.target_version,
                                         sha512=request.target_sha512, prefer=request.prefer)
        except SfAmbiguousReference as exc:
            # "point web at web" means the other thing called web, never the label itself.
            others = [c for c in exc.candidates if c['ref'] != label.ref]
            if len(others) != 1 or len(others) == len(exc.candidates):
                raise
            return self.resolver.resolve(others[0]['ref'], version=request.target_version,
                                         sha512=request.target_sha512)

    @staticmethod
    def _from_resolution(found: Resolution, given: str) -> LabelVersion:
        source = {'input': given, 'ref': found.ref, 'version': found.version}
        return LabelVersion(0, found.blob_uuid or '', found.sha512, found.size, source)

    # Checks
    def check(self, sharing: bool = True) -> LabelState:
        """Read the label and refuse what must not happen (shadowing, typos and, unless told, the sharing rules)
        before any write."""
        request = self.request
        namespace, name, explicit = split_label_name(request.name, self.caller)
        request.metadata = check_metadata(request.metadata, request.metadata_mode)
        if request.max_versions is not None:
            validate_count(request.max_versions, 'max_versions', 1)
        self._take_turn(namespace, name)
        before = self.reader.read(namespace, name)
        if not before.exists and not explicit:
            self._refuse_shadowing(before)
        if not before.exists and not request.create:
            raise SfNotFound(f'label {before.ref} does not exist and create is false, so nothing was created',
                             detail={'near': near_refs(name, self.api.index().labels(namespace))},
                             hint='check the spelling (near names are in error.detail.near), or set create: true')
        if sharing:
            check_write(self.caller, before, creating=not before.exists, shared=request.shared,
                        trusts=self.api.namespace_trusts)
        return before

    def _refuse_shadowing(self, label: LabelState) -> None:
        shared = self.reader.visible_system_label(label.name)
        if shared is not None:
            raise SfForbidden(
                f'there is no label {label.name!r} in namespace {self.caller!r}; the label of that name you can see '
                f'is sf://label/system/{label.name}, owned by namespace system, and only system may change it',
                hint=f'ask an administrator to run this task with namespace: system; to create your own label of '
                     f'that name anyway (bare references to {label.name!r} then become ambiguous), set '
                     f'name: {self.caller}/{label.name}')

    # Plans
    def plan(self) -> Plan:
        """sf_label's task: the request's state, after the rules that span several options."""
        request = self.request
        if request.state == 'absent':
            if any(getattr(request, key) is not None
                   for key in ('target', 'blob', 'rollback', 'max_versions', 'shared')):
                raise SfInvalidInput('state absent takes only name and version')
            return self.plan_absent()
        if request.version is not None:
            raise SfInvalidInput('version selects a version to delete; use it with state: absent '
                                 '(to point at a version of the target, use target_version)')
        return self.plan_present()

    def plan_present(self) -> Plan:
        """Create or move a label, set its retention, sharing and metadata."""
        request = self.request
        before = self.check(sharing=False)
        if request.rollback is not None:
            finished = self._interrupted_rollback(before)
            if finished is not None:
                return finished
        wanted: Optional[LabelVersion] = None
        warnings: List[str] = []
        if request.target or request.blob or request.rollback is not None or not before.exists:
            wanted, warnings = self.resolve_target(before)
        current = before.current
        if wanted is not None and current and (current.blob_uuid == wanted.blob_uuid or (
                current.sha512 and current.sha512 == wanted.sha512)):
            wanted = None
        plan = self.plan_change(before, wanted, warnings)
        # The sharing rules guard changes: a label already as asked is no change, whoever may write it (a label a
        # namespace created in another that trusts it can be asked for again, though it may not be changed).
        if plan.changes:
            check_write(self.caller, before, creating=not before.exists, shared=request.shared,
                        trusts=self.api.namespace_trusts)
        return plan

    def _interrupted_rollback(self, before: LabelState) -> Optional[Plan]:
        """A rollback is an action: repeated, it moves the label again. A run killed after its move reached the
        server must not make the next run roll back twice, so each rollback records its intent first
        (PENDING_KEY: the version it started from and the blob it moves to). When the label has moved to that blob
        since, that run got through: finish its bookkeeping instead of rolling back again."""
        pending = before.metadata.get(PENDING_KEY)
        current = before.current
        if not isinstance(pending, dict) or current is None or not before.uuid:
            return None
        if not (current.version > int(pending.get('from') or 0) and current.blob_uuid == pending.get('blob')):
            return None  # the interrupted run never moved the label: this rollback goes ahead (and clears it)
        plan = Plan(before=before.diff_view(), after=before.diff_view(), result=before.result(),
                    finish=lambda: self._finish(before))
        uuid = before.uuid
        source = pending.get('source') if isinstance(pending.get('source'), dict) else {}

        def finish(step: Step) -> None:
            step.changed = False
            if not current.resolved_from and source and self.api.features.artifact_metadata:
                self.api.set_metadata(uuid, resolved_from_key(current.version), source)
            self.api.delete_metadata(uuid, PENDING_KEY)

        plan.note(f'the rollback of {before.ref} to blob {current.blob_uuid} was done by an interrupted run '
                  f'(version {current.version}): not rolling back again')
        plan.add('finish_rollback', f'finish the bookkeeping of that rollback on {before.ref}', finish)
        return plan

    def plan_change(self, before: LabelState, wanted: Optional[LabelVersion], warnings: List[str]) -> Plan:
        """The steps that take `before` to `wanted` (None: no move) with the request's settings."""
        request = self.request
        plan = Plan(before=before.diff_view(), warnings=list(warnings), finish=lambda: self._finish(before))
        after = before.copy()
        written = Written(before.uuid)
        if wanted is not None:
            wanted.version = before.newest_version + 1
            self.add_point(plan, before, wanted, written, request.max_versions)
            after.state = 'created'
            after.history.insert(0, wanted)
            if not before.exists:
                after.max_versions = request.max_versions or SERVER_DEFAULT_MAX_VERSIONS
                after.origin = self.resolver.origin_in(before.namespace)
        if request.max_versions is not None and after.max_versions != request.max_versions:
            wanted_max = request.max_versions
            plan.add('set_max_versions', f'set max_versions of {before.ref} to {wanted_max}',
                     lambda step: self.api.set_max_versions(written.id(), wanted_max),
                     artifact_is(self.api, written.id, lambda a: a.max_versions == wanted_max))
            after.max_versions = request.max_versions
        if request.max_versions is not None:
            del after.history[request.max_versions:]
        if request.shared is not None and request.shared != after.shared:
            verb = 'share' if request.shared else 'unshare'
            shared = request.shared
            plan.add(verb, f'{verb} {before.ref}',
                     lambda step: (self.api.share if shared else self.api.unshare)(written.id()),
                     artifact_is(self.api, written.id, lambda a: a.shared == shared))
            after.shared = request.shared
        user_after = add_metadata_steps(plan, self.api, written.id, before.ref, before.metadata,
                                        request.metadata, request.metadata_mode)
        after.metadata = {**{k: v for k, v in after.metadata.items() if str(k).startswith(RESERVED_PREFIX)},
                          **user_after}
        plan.after, plan.result = after.diff_view(), after.result()
        return plan

    def _finish(self, before: LabelState) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        after = self.reader.reread(before.namespace, before.name)
        return after.diff_view(), after.result()

    @staticmethod
    def point_text(before: LabelState, wanted: LabelVersion, pending: str = 'what this task makes') -> str:
        """The words for a move; `pending` names the target while its blob is not known yet (an empty blob_uuid)."""
        verb = 'create' if not before.exists else 'move'
        if not wanted.blob_uuid:
            return f'{verb} {before.ref} -> {pending} (version {wanted.version})'
        source = (wanted.resolved_from or {}).get('ref') or f'sf://blob/{wanted.blob_uuid}'
        return f'{verb} {before.ref} -> {source} (blob {wanted.blob_uuid}, version {wanted.version})'

    def add_point(self, plan: Plan, before: LabelState, wanted: LabelVersion, written: Optional[Written] = None,
                  max_versions: Optional[int] = None, pending: str = 'what this task makes') -> Step:
        """The step that points the label at `wanted`. Its fields are read when the step runs, so a caller may fill
        in a blob that does not exist yet at planning time (sf_image_publish labels what it is about to upload); its
        blob_uuid is then empty, and `pending` says what it will be."""
        written = written or Written(before.uuid)

        relative = (wanted.resolved_from or {}).get('via', '').startswith('rollback')

        def run(step: Step) -> None:
            if relative and before.uuid:
                # Intent first, so a run killed after the move cannot make the next one roll back again.
                self.api.set_metadata(before.uuid, PENDING_KEY, {
                    'from': before.newest_version, 'blob': wanted.blob_uuid, 'source': wanted.resolved_from or {}})
            result = self.api.update_label(before.namespace, before.name, wanted.blob_uuid,
                                           max_versions if not before.exists else None)
            written.uuid = result.uuid
            known = {v.version for v in before.history}
            # The version this run made holds our blob and is not one we saw before; concurrent moves may have
            # added others meanwhile, so the answer's newest `index` is not necessarily ours.
            ours = [index for index, ref in result.blobs.items() if ref.uuid == wanted.blob_uuid and index not in known]
            if not ours:
                step.changed = False
                step.result = f'{before.ref} already points at blob {wanted.blob_uuid} (moved there concurrently)'
                return
            wanted.version = max(ours)
            step.result = self.point_text(before, wanted)
            self._record_source(result.uuid, wanted, list(result.blobs), step, plan)
            if relative:
                with contextlib.suppress(SfError):
                    self.api.delete_metadata(result.uuid, PENDING_KEY)

        def confirm() -> bool:
            now = self.reader.reread(before.namespace, before.name).current
            if now is None or now.blob_uuid != wanted.blob_uuid:
                return False
            written.uuid = self.reader.find(before.namespace, before.name).uuid  # type: ignore[union-attr]
            wanted.version = now.version
            return True

        return plan.add('point_label', self.point_text(before, wanted, pending), run, confirm)

    def _record_source(self, uuid: str, wanted: LabelVersion, kept: List[int], step: Step, plan: Plan) -> None:
        """Remember where the new version came from (the server keeps only blob UUIDs), then drop the entries of
        versions the server no longer keeps. Only entries below the newest kept version are dropped: anything newer
        may be a concurrent run's fresh entry for a version this answer did not show yet."""
        if not self.api.features.artifact_metadata:
            return
        if wanted.resolved_from:  # an empty record says nothing (and 0.7.2 refuses an empty value)
            try:
                self.api.set_metadata(uuid, resolved_from_key(wanted.version), wanted.resolved_from)
            except SfError as exc:
                step.result = f'{step.result}; recording where it came from failed: {exc}'
                # The move stands (failing now would not undo it); rolling back to this version still works, by blob.
                plan.warnings.append(f'label version {wanted.version} was made, but where it came from could not '
                                     f'be recorded ({exc}); its history shows only its blob')
                return
        newest = max(kept, default=wanted.version)
        with contextlib.suppress(SfError):
            metadata = self.api.get_metadata(uuid)
            for version in read_resolved_from({k: v for k, v in metadata.items() if k != RESOLVED_FROM_KEY}):
                if version not in kept and version < newest:
                    self.api.delete_metadata(uuid, resolved_from_key(version))

    def _delete_version(self, uuid: str, version: int) -> None:
        self.api.delete_version(uuid, version)
        # Its history entry goes with it (the label lives on, so its metadata does).
        with contextlib.suppress(SfError):
            self.api.delete_metadata(uuid, resolved_from_key(version))

    def plan_absent(self) -> Plan:
        """Delete the label, or only `request.version`."""
        version = self.request.version
        namespace, name, explicit = split_label_name(self.request.name, self.caller)
        self._take_turn(namespace, name)
        before = self.reader.read(namespace, name)
        plan = Plan(before=before.diff_view(), after=before.diff_view(), result=before.result())
        if not before.exists:
            shared = None if explicit else self.reader.visible_system_label(name)
            if shared is not None:
                plan.warnings.append(f'no label {name!r} in namespace {self.caller!r}; the shared label '
                                     f'sf://label/system/{name} is owned by system and was left alone')
            plan.note(f'no label {before.ref}')
            return plan
        check_write(self.caller, before, creating=False, shared=None, trusts=self.api.namespace_trusts)
        uuid = before.uuid or ''
        if version is None:
            plan.add('delete', f'delete {before.ref} (artifact {uuid})', lambda step: self.api.delete_artifact(uuid),
                     artifact_gone(self.api, uuid))
        elif version in [v.version for v in before.history]:
            plan.add('delete_version', f'delete version {version} of {before.ref}',
                     lambda step: self._delete_version(uuid, version), version_gone(self.api, uuid, version))
        else:
            plan.note(f'{before.ref} has no version {version}')
            return plan
        after = before.copy()
        after.history = [v for v in before.history if v.version != version] if version is not None else []
        if not after.history:  # its last version deleted, or all of it: the label is gone
            after = LabelState(ref=before.ref, namespace=namespace, name=name)
        plan.after, plan.result = after.diff_view(), after.result()
        plan.finish = lambda: self._finish(before)
        return plan
