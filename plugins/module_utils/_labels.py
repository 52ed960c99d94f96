# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Labels: reading a label with its history, naming, and the sharing rules. Changing labels is _label_plan.py.

No Ansible imports. Reads use the artifact listing (GET /label is broken on Shaken Fist 0.7.2).

Where each version came from is kept in the label's artifact metadata, one key per version
(`shakenfist.storage.resolved_from.<version>`), so two runs moving one label at once each write their own key
and neither can lose the other's entry (a single map rewritten by every run could).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._api import SfApi, newest_first
from ._errors import SfConflict, SfForbidden, SfInvalidInput, SfNotFound
from ._filters import name_matches
from ._metadata import RESERVED_PREFIX, user_metadata
from ._models import Artifact, ArtifactVersion
from ._object_metadata import artifact_metadata
from ._options import Options, option
from ._refs import is_uuid, label_url, validate_name
from ._resolver import Resolver
from ._words import plural

# The layout before per-version keys: one key holding {version: source}. Still read, never written.
RESOLVED_FROM_KEY = 'shakenfist.storage.resolved_from'
RESOLVED_FROM_PREFIX = RESOLVED_FROM_KEY + '.'
# A rollback's intent, written before it moves the label and removed after (see LabelPlanner).
PENDING_KEY = 'shakenfist.storage.rollback_pending'
SERVER_DEFAULT_MAX_VERSIONS = 3


def resolved_from_key(version: int) -> str:
    # No '/' in it: servers decode %2F before routing, so PUT .../metadata/<key> could never reach such a key.
    return f'{RESOLVED_FROM_PREFIX}{version}'


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
        # A label check mode predicts will be created has no UUID yet (null), but exists after the run.
        return self.uuid is not None or self.state != 'absent'

    @property
    def current(self) -> Optional[LabelVersion]:
        return self.history[0] if self.history else None

    @property
    def newest_version(self) -> int:
        """The highest version number the label has had (0: none); the next move makes this plus one."""
        return max([v.version for v in self.history], default=0)

    def copy(self) -> LabelState:
        return LabelState(**{**self.__dict__, 'history': list(self.history), 'metadata': dict(self.metadata)})

    def as_dict(self) -> Dict[str, Any]:
        current = self.current
        return {
            'ref': self.ref, 'uuid': self.uuid, 'namespace': self.namespace, 'name': self.name,
            'state': self.state, 'shared': self.shared, 'max_versions': self.max_versions, 'origin': self.origin,
            'current': current.as_dict() if current else None,
            'metadata': user_metadata(self.metadata),
        }

    def history_dicts(self) -> List[Dict[str, Any]]:
        return [version.as_dict() for version in self.history]

    def result(self) -> Dict[str, Any]:
        """The module result fields for this label."""
        return {'label': self.as_dict(), 'history': self.history_dicts()}

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
class LabelRequest(Options):
    """What sf_label was asked for; the fields are its options."""

    name: str = option(type='str', required=True)
    state: str = option('present', type='str', choices=['present', 'absent'])
    target: Optional[str] = option(type='str')
    target_version: Any = option(type='raw')
    target_sha512: Optional[str] = option(type='str')
    blob: Optional[str] = option(type='str')
    rollback: Optional[int] = option(type='int')
    prefer: Optional[Sequence[str]] = option(type='list', elements='str')
    max_versions: Optional[int] = option(type='int')
    shared: Optional[bool] = option(type='bool')
    metadata: Optional[Dict[str, Any]] = option(type='dict')
    metadata_mode: str = option('merge', type='str', choices=['merge', 'replace'])
    create: bool = option(True, type='bool')
    version: Optional[int] = option(type='int')  # with state absent: the one version to delete


@dataclass
class LabelQuery(Options):
    """What sf_label_info was asked for; the fields are its options."""

    name: Optional[str] = option(type='str')
    owner: Optional[str] = option(type='str')
    pattern: Optional[str] = option(type='str')
    history: bool = option(False, type='bool')


def validate_label_name(name: str) -> str:
    validate_name(name, 'label name')
    if is_uuid(name):
        raise SfInvalidInput(f'label name {name!r} looks like a UUID: a bare reference to it would mean the artifact '
                             'with that UUID, so the label could never be found by name',
                             hint='choose a name that is not a UUID')
    return name


def split_label_name(text: str, caller: str) -> Tuple[str, str, bool]:
    """`name` or `<ns>/<name>` (also `sf://label/<ns>/<name>`, `label:<name>`) -> (namespace, name, explicit)."""
    if not isinstance(text, str) or not text.strip():
        raise SfInvalidInput('name must be a label name or <namespace>/<name>')
    text = text.strip()
    # The prefixed forms mean what they mean for the resolver: sf://label/ names a namespace, label: never does.
    if text.startswith('sf://label/'):
        text = text[len('sf://label/'):]
        if text.count('/') != 1:
            raise SfInvalidInput(f'label name {"sf://label/" + text!r} must look like sf://label/<namespace>/<name>')
    elif text.startswith('label:'):
        text = text[len('label:'):]
        if '/' in text:
            raise SfInvalidInput(f'label name {"label:" + text!r} names a label in your own namespace: write '
                                 '<namespace>/<name> for another one')
    parts = text.split('/')
    if len(parts) == 1:
        return caller, validate_label_name(parts[0]), False
    if len(parts) == 2 and all(parts):
        return validate_name(parts[0], 'namespace'), validate_label_name(parts[1]), True
    raise SfInvalidInput(f'label name {text!r} must be <name> or <namespace>/<name> (at most one "/")')


def read_resolved_from(metadata: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    """{version: source} from the per-version keys, then the older single map; tolerant of foreign junk."""
    found: Dict[int, Dict[str, Any]] = {}
    legacy = metadata.get(RESOLVED_FROM_KEY)
    if isinstance(legacy, str):
        try:
            legacy = json.loads(legacy)
        except ValueError:
            legacy = None
    entries: List[Tuple[Any, Any]] = list(legacy.items()) if isinstance(legacy, dict) else []
    entries += [(key[len(RESOLVED_FROM_PREFIX):], value) for key, value in metadata.items()
                if str(key).startswith(RESOLVED_FROM_PREFIX)]
    for key, value in entries:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
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
        raise SfNotFound(f'cannot roll {ref} back {plural(steps, "version")}: the server keeps versions {kept}',
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


class LabelReader:
    """Reads labels through the domain client: one listing, versions and metadata only where needed."""

    def __init__(self, api: SfApi, resolver: Resolver) -> None:
        self.api = api
        self.resolver = resolver

    def find(self, namespace: str, name: str) -> Optional[Artifact]:
        found = self.api.index().labels(namespace, name)
        created = [a for a in found if a.state == 'created'] or found
        if len(created) > 1:
            raise SfConflict(f'{len(created)} label artifacts have the URL {label_url(namespace, name)} '
                             f'({", ".join(a.uuid for a in created)})',
                             hint='delete the extra ones by UUID (DELETE /artifacts/<uuid> as their owner or system)')
        return created[0] if created else None

    def state_of(self, artifact: Artifact, with_versions: bool = True) -> LabelState:
        metadata = artifact_metadata(self.api, artifact, RESERVED_PREFIX) if with_versions else dict(artifact.metadata)
        versions = self.api.artifact_versions(artifact.uuid) if with_versions else None
        return LabelState(
            ref=artifact.source_url, namespace=artifact.namespace, name=artifact.name, uuid=artifact.uuid,
            state=artifact.state, shared=artifact.shared, max_versions=artifact.max_versions or None,
            origin=self.resolver.origin_in(artifact.namespace), metadata=metadata,
            history=history_from(artifact, versions, read_resolved_from(metadata)))

    def read(self, namespace: str, name: str) -> LabelState:
        artifact = self.find(namespace, name)
        if artifact is None:
            return LabelState(ref=label_url(namespace, name), namespace=namespace, name=name)
        return self.state_of(artifact)

    def reread(self, namespace: str, name: str) -> LabelState:
        """The label as it is now, after our writes or anyone else's."""
        self.api.forget()
        return self.read(namespace, name)

    def visible_system_label(self, name: str) -> Optional[Artifact]:
        if self.api.namespace == 'system':
            return None
        return self.find('system', name)

    def info(self, query: LabelQuery) -> Dict[str, Any]:
        """sf_label_info's result. With a name: that label (your own, else the system label you can see, unless
        the name says its owner) with its history, and empty answers when it does not exist; else the listing."""
        if not query.name:
            return {'labels': [entry(label, query.history) for label in
                               self.listing(owner=query.owner, pattern=query.pattern, with_versions=query.history)]}
        namespace, name, explicit = split_label_name(query.name, self.api.namespace)
        label = self.read(namespace, name)
        if not label.exists and not explicit:
            shared = self.visible_system_label(name)
            label = self.state_of(shared) if shared is not None else label
        found = entry(label, True) if label.exists else None
        return {'exists': label.exists, 'label': found, 'history': label.history_dicts(),
                'labels': [found] if found else []}

    def listing(self, owner: Optional[str] = None, pattern: Optional[str] = None,
                with_versions: bool = False) -> List[LabelState]:
        """Every label the caller can see (one request), filtered locally; shared system labels included."""
        labels = [a for a in self.api.index().labels(owner) if name_matches(a.name, pattern)]
        labels.sort(key=lambda a: (a.namespace, a.name))
        return [self.state_of(a, with_versions=with_versions) for a in labels]


def entry(label: LabelState, with_history: bool) -> Dict[str, Any]:
    """A label as sf_label_info lists it, with its history when asked."""
    found = label.as_dict()
    if with_history:
        found['history'] = label.history_dicts()
    return found
