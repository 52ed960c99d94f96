# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Labels: reading a label with its history, the sharing rules, and planning and applying a move.

No Ansible imports: sf_label and sf_label_info are thin adapters over LabelManager. Reads use the artifact
listing (GET /label is broken on Shaken Fist 0.7.2); deletes go by artifact UUID for the same reason.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._api import SfApi, newest_first
from ._errors import SfAmbiguousReference, SfConflict, SfError, SfForbidden, SfInvalidInput, SfNotFound, SfNotReady
from ._models import Artifact, ArtifactVersion
from ._refs import artifact_name, label_url, validate_name
from ._resolver import Resolution, Resolver

# Artifact metadata key holding {version: what it was resolved from}; the server does not record sources.
# No '/' in it: servers decode %2F before routing, so PUT .../metadata/<key> could never reach such a key.
RESOLVED_FROM_KEY = 'shakenfist.storage.resolved_from'
SERVER_DEFAULT_MAX_VERSIONS = 3


@dataclass
class LabelVersion:
    version: int
    blob_uuid: str
    sha512: Optional[str] = None
    size: Optional[int] = None
    resolved_from: Optional[Dict[str, Any]] = None

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LabelState:
    """One label as the modules return it (`label`), with its versions newest first (`history`)."""

    ref: str
    namespace: str
    name: str
    uuid: Optional[str] = None
    state: str = 'absent'
    shared: bool = False
    max_versions: Optional[int] = None
    origin: Optional[str] = None
    history: List[LabelVersion] = field(default_factory=list)
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.uuid is not None

    @property
    def current(self) -> Optional[LabelVersion]:
        return self.history[0] if self.history else None

    def as_dict(self) -> Dict[str, Any]:
        current = self.current
        return {
            'ref': self.ref, 'uuid': self.uuid, 'namespace': self.namespace, 'name': self.name,
            'state': self.state, 'shared': self.shared, 'max_versions': self.max_versions, 'origin': self.origin,
            'current': current.as_dict() if current else None,
            'metadata': {k: v for k, v in self.metadata.items() if k != RESOLVED_FROM_KEY},
        }

    def history_dicts(self) -> List[Dict[str, Any]]:
        return [version.as_dict() for version in self.history]

    def diff_view(self) -> Dict[str, Any]:
        """What diff mode compares: the target, version, checksum, retention and sharing."""
        current = self.current
        source = current.resolved_from if current else None
        return {
            'exists': self.exists,
            'target': (source or {}).get('ref') or (f'sf://blob/{current.blob_uuid}' if current else None),
            'version': current.version if current else None,
            'blob_uuid': current.blob_uuid if current else None,
            'sha512': current.sha512 if current else None,
            'max_versions': self.max_versions,
            'shared': self.shared,
            'versions': [v.version for v in self.history],
        }


@dataclass
class LabelRequest:
    """What sf_label was asked for (state present)."""

    target: Optional[str] = None
    target_version: Any = None
    target_sha512: Optional[str] = None
    blob: Optional[str] = None
    rollback: Optional[int] = None
    prefer: Optional[Sequence[str]] = None
    max_versions: Optional[int] = None
    shared: Optional[bool] = None
    metadata: Optional[Dict[str, Any]] = None
    create: bool = True


@dataclass
class Outcome:
    before: LabelState
    after: LabelState
    changed: bool = False
    actions: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


def split_label_name(text: str, caller: str) -> Tuple[str, str, bool]:
    """`name` or `<ns>/<name>` (also `sf://label/<ns>/<name>`, `label:<name>`) -> (namespace, name, explicit)."""
    if not isinstance(text, str) or not text.strip():
        raise SfInvalidInput('name must be a label name or <namespace>/<name>')
    text = text.strip()
    if text.startswith('sf://label/'):
        text = text[len('sf://label/'):]
    elif text.startswith('label:'):
        text = text[len('label:'):]
    parts = text.split('/')
    if len(parts) == 1:
        return caller, validate_name(parts[0], 'label name'), False
    if len(parts) == 2 and all(parts):
        return validate_name(parts[0], 'namespace'), validate_name(parts[1], 'label name'), True
    raise SfInvalidInput(f'label name {text!r} must be <name> or <namespace>/<name> (at most one "/")')


def read_resolved_from(metadata: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    """The stored {version: source} map; tolerant of a JSON string and of foreign junk."""
    raw = metadata.get(RESOLVED_FROM_KEY)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    found: Dict[int, Dict[str, Any]] = {}
    for key, value in raw.items():
        try:
            found[int(key)] = value if isinstance(value, dict) else {'ref': str(value)}
        except (TypeError, ValueError):
            continue
    return found


def history_from(artifact: Artifact, versions: Optional[List[ArtifactVersion]],
                 sources: Dict[int, Dict[str, Any]]) -> List[LabelVersion]:
    """Versions newest first, from GET .../versions when read, else from the listing's `blobs` (no sha512)."""
    if versions is not None:
        return [LabelVersion(v.index, v.uuid, v.sha512, v.size, sources.get(v.index)) for v in newest_first(versions)]
    return [LabelVersion(index, ref.uuid, None, ref.size, sources.get(index))
            for index, ref in sorted(artifact.blobs.items(), reverse=True)]


def rollback_target(history: List[LabelVersion], steps: int, ref: str) -> LabelVersion:
    """What the label pointed at `steps` versions ago (history is newest first)."""
    if steps < 1:
        raise SfInvalidInput('rollback must be 1 or more (the number of versions to go back)')
    if steps >= len(history):
        kept = ', '.join(str(v.version) for v in history) or 'none'
        raise SfNotFound(f'cannot roll {ref} back {steps} version(s): the server keeps versions {kept}',
                         hint='raise max_versions to keep more history, or pin with target and target_version')
    return history[steps]


def check_write(caller: str, label: LabelState, *, creating: bool, shared: Optional[bool],
                trusts: Any) -> None:
    """The sharing rules, checked before any write: writes go by ownership, never by visibility."""
    owner = label.namespace
    if caller != 'system':
        if label.exists and owner != caller:
            kind = 'the shared label' if label.shared else 'the label'
            writers = 'system' if owner == 'system' else f'{owner!r} or system'
            raise SfForbidden(
                f'{kind} {label.ref} is owned by namespace {owner!r}; namespace {caller!r} may read it but only '
                f'{writers} may change or delete it',
                hint=f'ask an administrator to run this task with namespace: system, or keep your own label: '
                     f'name: {caller}/{label.name}')
        if creating and owner != caller:
            if owner == 'system':
                raise SfForbidden(f'only system may create labels in namespace system ({label.ref})',
                                  hint=f'create your own label instead: name: {caller}/{label.name}')
            if not trusts(owner):
                raise SfForbidden(f'namespace {owner!r} does not trust {caller!r}, so {caller!r} cannot create '
                                  f'{label.ref}', hint=f'namespace {owner!r} (or system) must add a trust for '
                                                       f'{caller!r} first')
        if shared:
            raise SfForbidden(f'only system may share a label; {caller!r} asked for shared: true on {label.ref}',
                              hint='leave shared unset, or run the task with namespace: system')
    if shared and owner != 'system':
        raise SfForbidden(f'only labels in namespace system can be shared; {label.ref} is in {owner!r}',
                          hint=f'create it as system/{label.name} to share it with every namespace')


def pattern_matches(name: str, pattern: Optional[str]) -> bool:
    return not pattern or fnmatch.fnmatchcase(name, pattern)


class LabelManager:
    """Reads and changes labels through the domain client; `check_mode` predicts instead of writing."""

    def __init__(self, api: SfApi, resolver: Resolver, check_mode: bool = False) -> None:
        self.api = api
        self.resolver = resolver
        self.check_mode = check_mode

    @property
    def caller(self) -> str:
        return self.api.namespace

    # Reading
    def find(self, namespace: str, name: str) -> Optional[Artifact]:
        found = [a for a in self.api.list_artifacts() if a.artifact_type == 'label'
                 and a.source_url == label_url(namespace, name) and a.namespace == namespace]
        created = [a for a in found if a.state == 'created'] or found
        if len(created) > 1:
            raise SfConflict(f'{len(created)} label artifacts have the URL {label_url(namespace, name)} '
                             f'({", ".join(a.uuid for a in created)})',
                             hint='delete the extra ones by UUID (DELETE /artifacts/<uuid> as their owner or system)')
        return created[0] if created else None

    def _metadata(self, artifact: Artifact) -> Dict[str, Any]:
        metadata = dict(artifact.metadata)
        # Some servers leave metadata out of artifact views; the metadata route needs ownership.
        if (RESOLVED_FROM_KEY not in metadata and self.caller in ('system', artifact.namespace)
                and self.api.has_capability('artifact-metadata')):
            with contextlib.suppress(SfError):
                metadata.update(self.api.get_metadata(artifact.uuid))
        return metadata

    def state_of(self, artifact: Artifact, with_versions: bool = True) -> LabelState:
        metadata = self._metadata(artifact) if with_versions else dict(artifact.metadata)
        versions = self.api.artifact_versions(artifact.uuid) if with_versions else None
        name = artifact_name(artifact.source_url)
        return LabelState(
            ref=artifact.source_url, namespace=artifact.namespace, name=name, uuid=artifact.uuid,
            state=artifact.state, shared=artifact.shared, max_versions=artifact.max_versions or None,
            origin=self.resolver.origin_of(artifact), metadata=metadata,
            history=history_from(artifact, versions, read_resolved_from(metadata)))

    def read(self, namespace: str, name: str) -> LabelState:
        artifact = self.find(namespace, name)
        if artifact is None:
            return LabelState(ref=label_url(namespace, name), namespace=namespace, name=name)
        return self.state_of(artifact)

    def visible_system_label(self, name: str) -> Optional[Artifact]:
        if self.caller == 'system':
            return None
        return self.find('system', name)

    def listing(self, owner: Optional[str] = None, pattern: Optional[str] = None,
                with_versions: bool = False) -> List[LabelState]:
        """Every label the caller can see (one request), filtered locally; shared system labels included."""
        labels = [a for a in self.api.list_artifacts() if a.artifact_type == 'label'
                  and a.source_url.startswith('sf://label/') and (owner is None or a.namespace == owner)
                  and pattern_matches(artifact_name(a.source_url), pattern)]
        labels.sort(key=lambda a: (a.namespace, artifact_name(a.source_url)))
        return [self.state_of(a, with_versions=with_versions) for a in labels]

    # Targets
    def resolve_target(self, label: LabelState, request: LabelRequest) -> Tuple[LabelVersion, List[str]]:
        """The version the label should point at, and warnings from resolution."""
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
        found = self._resolve_excluding_self(label, request)
        if not found.blob_uuid:
            raise SfNotReady(f'{request.target!r} means {found.ref}, which has not been fetched into the cluster '
                             'yet, so a label cannot point at it',
                             hint='publish or cache the image first (shakenfist.storage.sf_image_publish)')
        return self._from_resolution(found, request.target), list(found.warnings)

    def _resolve_excluding_self(self, label: LabelState, request: LabelRequest) -> Resolution:
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

    # Writing
    def ensure_present(self, text: str, request: LabelRequest) -> Outcome:
        namespace, name, explicit = split_label_name(text, self.caller)
        for key in (request.metadata or {}):
            if key == RESOLVED_FROM_KEY:
                raise SfInvalidInput(f'metadata key {RESOLVED_FROM_KEY!r} is kept by this collection')
        if request.max_versions is not None and request.max_versions < 1:
            raise SfInvalidInput('max_versions must be 1 or more')
        before = self.read(namespace, name)
        if not before.exists and not explicit:
            self._refuse_shadowing(before)
        if not before.exists and not request.create:
            raise SfNotFound(f'label {before.ref} does not exist and create is false, so nothing was created',
                             detail={'near': self._near(namespace, name)},
                             hint='check the spelling (near names are in error.detail.near), or set create: true')
        check_write(self.caller, before, creating=not before.exists, shared=request.shared,
                    trusts=self.api.namespace_trusts)
        outcome = Outcome(before=before, after=before)
        wanted: Optional[LabelVersion] = None
        if request.target or request.blob or request.rollback is not None or not before.exists:
            wanted, outcome.warnings = self.resolve_target(before, request)
        current = before.current
        move = wanted is not None and not (current and (current.blob_uuid == wanted.blob_uuid or (
            current.sha512 and current.sha512 == wanted.sha512)))
        self._apply(before, outcome, wanted if move else None, request)
        return outcome

    def _refuse_shadowing(self, label: LabelState) -> None:
        shared = self.visible_system_label(label.name)
        if shared is not None:
            raise SfForbidden(
                f'there is no label {label.name!r} in namespace {self.caller!r}; the label of that name you can see '
                f'is sf://label/system/{label.name}, owned by namespace system, and only system may change it',
                hint=f'ask an administrator to run this task with namespace: system; to create your own label of '
                     f'that name anyway (bare references to {label.name!r} then become ambiguous), set '
                     f'name: {self.caller}/{label.name}')

    def _near(self, namespace: str, name: str) -> List[str]:
        names = {s.name: s.ref for s in self.listing(owner=namespace)}
        return [names[n] for n in difflib.get_close_matches(name, list(names), n=5, cutoff=0.6)]

    def _apply(self, before: LabelState, outcome: Outcome, wanted: Optional[LabelVersion],
               request: LabelRequest) -> None:
        after = LabelState(**{**before.__dict__, 'history': list(before.history), 'metadata': dict(before.metadata)})
        uuid = before.uuid
        if wanted is not None:
            newest = max([v.version for v in before.history], default=0)
            wanted.version = newest + 1
            verb = 'create' if not before.exists else 'move'
            outcome.actions.append(f'{verb} {before.ref} -> {(wanted.resolved_from or {}).get("ref")} '
                                   f'(blob {wanted.blob_uuid}, version {wanted.version})')
            if not self.check_mode:
                result = self.api.update_label(before.namespace, before.name, wanted.blob_uuid,
                                               request.max_versions if not before.exists else None)
                uuid = result.uuid
                wanted.version = result.index or wanted.version
                after.max_versions = result.max_versions or None
            after.uuid = uuid or 'predicted (check mode)'
            after.state = 'created'
            after.history.insert(0, wanted)
            if not before.exists:
                after.max_versions = after.max_versions or SERVER_DEFAULT_MAX_VERSIONS
        if request.max_versions is not None and after.max_versions != request.max_versions:
            outcome.actions.append(f'set max_versions of {before.ref} to {request.max_versions}')
            if not self.check_mode:
                self.api.set_max_versions(uuid or '', request.max_versions)
            after.max_versions = request.max_versions
        if request.max_versions is not None:
            del after.history[request.max_versions:]
        if request.shared is not None and request.shared != after.shared:
            outcome.actions.append(f'{"share" if request.shared else "unshare"} {before.ref}')
            if not self.check_mode:
                (self.api.share if request.shared else self.api.unshare)(uuid or '')
            after.shared = request.shared
        self._apply_metadata(before, after, wanted, request, outcome, uuid)
        outcome.changed = bool(outcome.actions)
        if outcome.changed and not self.check_mode:
            self.api.list_artifacts(refresh=True)
            after = self.read(before.namespace, before.name)
        outcome.after = after

    def _apply_metadata(self, before: LabelState, after: LabelState, wanted: Optional[LabelVersion],
                        request: LabelRequest, outcome: Outcome, uuid: Optional[str]) -> None:
        for key, value in (request.metadata or {}).items():
            if before.metadata.get(key) != value:
                outcome.actions.append(f'set metadata {key} on {before.ref}')
                if not self.check_mode:
                    self.api.set_metadata(uuid or '', key, value)
                after.metadata[key] = value
        if wanted is None or self.check_mode or not self.api.has_capability('artifact-metadata'):
            return
        # Remember where each retained version came from; the server keeps only blob UUIDs.
        kept = {v.version for v in after.history[:after.max_versions or SERVER_DEFAULT_MAX_VERSIONS]}
        sources = {str(k): v for k, v in read_resolved_from(before.metadata).items() if k in kept}
        sources[str(wanted.version)] = wanted.resolved_from or {}
        try:
            self.api.set_metadata(uuid or '', RESOLVED_FROM_KEY, sources)
        except SfError as exc:
            outcome.warnings.append(f'{before.ref} moved, but recording where it came from failed: {exc}')

    def ensure_absent(self, text: str, version: Optional[int] = None) -> Outcome:
        namespace, name, explicit = split_label_name(text, self.caller)
        before = self.read(namespace, name)
        outcome = Outcome(before=before, after=before)
        if not before.exists:
            shared = None if explicit else self.visible_system_label(name)
            if shared is not None:
                outcome.warnings.append(f'no label {name!r} in namespace {self.caller!r}; the shared label '
                                        f'sf://label/system/{name} is owned by system and was left alone')
            return outcome
        check_write(self.caller, before, creating=False, shared=None, trusts=self.api.namespace_trusts)
        if version is not None:
            if version not in [v.version for v in before.history]:
                return outcome
            outcome.actions.append(f'delete version {version} of {before.ref}')
            after = LabelState(**{**before.__dict__, 'history': [v for v in before.history if v.version != version]})
            if not after.history:
                after = LabelState(ref=before.ref, namespace=namespace, name=name)
            if not self.check_mode:
                self.api.delete_version(before.uuid or '', version)
        else:
            outcome.actions.append(f'delete {before.ref} (artifact {before.uuid})')
            after = LabelState(ref=before.ref, namespace=namespace, name=name)
            if not self.check_mode:
                self.api.delete_artifact(before.uuid or '')
        outcome.changed = True
        outcome.after = after
        return outcome
