# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one name-resolution rule (docs/name-resolution.md), shared by every module and the lookup.

A reference becomes candidates; exactly one candidate is used, none is a not-found error listing near names,
several are an ambiguous-reference error listing every candidate in its explicit form, unless the caller
states a tie-break with `prefer`. The chosen artifact is then pinned to one version.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ._api import SfApi, newest_first
from ._errors import SfAmbiguousReference, SfError, SfInvalidInput, SfNotFound, SfNotReady
from ._models import Artifact, ArtifactVersion
from ._refs import (
    DEFAULT_IMAGE_BASE_URL,
    ParsedRef,
    artifact_name,
    is_upstream_shorthand,
    parse_ref,
    upstream_url,
    validate_sha512,
)

ORIGINS = ('namespace', 'system', 'trusted', 'upstream')
VersionSpec = Union[None, str, int]


@dataclass(frozen=True)
class Candidate:
    """One thing a reference could mean. `origins` is every origin it counts as for `prefer` (a system artifact
    is `system` for everyone, and also `namespace` for the system caller itself); `origin` is the first."""

    origins: Tuple[str, ...]
    kind: str
    ref: str
    artifact: Optional[Artifact] = None
    url: Optional[str] = None

    @property
    def origin(self) -> str:
        return self.origins[0]

    def describe(self) -> Dict[str, Any]:
        return {
            'ref': self.ref,
            'origin': self.origin,
            'kind': self.kind,
            'uuid': self.artifact.uuid if self.artifact else None,
            'namespace': self.artifact.namespace if self.artifact else None,
            'state': self.artifact.state if self.artifact else 'not fetched',
        }


@dataclass
class Resolution:
    """A reference pinned to one artifact version (or a blob, or a not-yet-fetched upstream image)."""

    input: str
    ref: str
    origin: str
    kind: str
    uuid: Optional[str] = None
    namespace: Optional[str] = None
    name: Optional[str] = None
    type: Optional[str] = None
    state: Optional[str] = None
    source_url: Optional[str] = None
    shared: bool = False
    version: Optional[int] = None
    blob_uuid: Optional[str] = None
    sha512: Optional[str] = None
    size: Optional[int] = None
    disk_base: Optional[str] = None
    shadowed: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


class Resolver:
    def __init__(self, api: SfApi, image_base_url: str = DEFAULT_IMAGE_BASE_URL) -> None:
        self.api = api
        self.image_base_url = image_base_url
        self._cache: Dict[Tuple[Any, ...], Resolution] = {}
        self._notes: List[str] = []  # warnings gathered while finding candidates, for the resolution

    @property
    def namespace(self) -> str:
        return self.api.namespace

    def visible(self, artifact: Artifact) -> bool:
        """Whether the caller may see the artifact. 0.7.2 answers a GET by UUID of another namespace's unshared
        artifact anyway; newer servers hide it, and so does the resolver, so a UUID means the same on both."""
        caller = self.namespace
        return (caller in ('system', artifact.namespace) or artifact.shared
                or self.api.namespace_trusts(artifact.namespace))

    def origin_in(self, namespace: str) -> str:
        """namespace (the caller's own), system, or trusted (another namespace that lets us see it): the origin an
        artifact owned by `namespace` has for the caller (what a new one will have)."""
        return 'namespace' if namespace == self.namespace else 'system' if namespace == 'system' else 'trusted'

    def origins_of(self, artifact: Artifact) -> Tuple[str, ...]:
        origin = self.origin_in(artifact.namespace)
        return ('namespace', 'system') if origin == 'namespace' and artifact.namespace == 'system' else (origin,)

    def _candidate(self, artifact: Artifact) -> Candidate:
        return Candidate(self.origins_of(artifact), artifact.artifact_type, artifact.ref, artifact)

    def _by_uuid(self, uuid: str, want_type: Optional[str] = None) -> List[Candidate]:
        artifact = self.api.find_artifact(uuid)
        if artifact is None or artifact.state == 'deleted' or not self.visible(artifact):
            return []
        if want_type and artifact.artifact_type != want_type:
            raise SfInvalidInput(f'sf://{want_type}/{uuid} names a {artifact.artifact_type}, not a {want_type}')
        return [self._candidate(artifact)]

    def candidates(self, parsed: ParsedRef, prefer: Optional[Sequence[str]] = None) -> List[Candidate]:
        """Every artifact the parsed reference could mean, in rule order."""
        self._notes = []
        kind = parsed.kind
        if kind in ('artifact', 'snapshot'):
            return self._by_uuid(parsed.uuid or '', 'snapshot' if kind == 'snapshot' else None)
        index = self.api.index()
        if kind == 'label':
            return [self._candidate(a) for a in index.labels(parsed.namespace, parsed.name or '')]
        if kind == 'upload':
            return [self._candidate(a) for a in index.uploads(parsed.namespace, parsed.name or '')]
        if kind == 'instance_disk':
            return [self._candidate(a) for a in index.snapshots(parsed.name or '')]
        if kind == 'namespaced':
            return [self._candidate(a) for a in index.named(parsed.namespace or '', parsed.name or '')]
        if kind == 'url':
            return self._upstream(parsed.url or '', parsed.url, prefer)
        return self._bare_candidates(parsed.name or '', prefer)

    def _upstream(self, key: str, url: Optional[str], prefer: Optional[Sequence[str]]) -> List[Candidate]:
        """The image the cluster would fetch from `url` (artifacts cached from it have source_url `key`).

        A cached copy counts as that image only when the caller or system owns it: any namespace that trusts the
        caller could otherwise show it its own bytes as the upstream image. Copies of other namespaces are offered,
        with their true origin (trusted) and owner, only when prefer names `trusted`.
        """
        cached = self.api.index().fetched(None, key)
        owned = [a for a in cached if a.namespace == self.namespace]
        by_system = [a for a in cached if a.namespace == 'system' and self.namespace != 'system']
        others = [a for a in cached if a not in owned and a not in by_system]
        # The server's URL rule: the caller's own copy wins over visible ones; then system's.
        trusted_copy = owned[0] if len(owned) == 1 else (by_system[0] if len(by_system) == 1 and not owned else None)
        # A cached copy IS the upstream image: it counts as `upstream` only, so `prefer: [system]` or `[namespace]`
        # picks a label over the caller's (or system's) own copy of the image instead of finding both.
        found = [Candidate(('upstream',), 'upstream', artifact.ref, artifact, url=url)
                 for artifact in ([trusted_copy] if trusted_copy is not None else owned + by_system)]
        if not found:
            found.append(Candidate(('upstream',), 'upstream', url or key, url=url))
        if prefer and 'trusted' in prefer:
            found += [self._candidate(artifact) for artifact in others]
        elif others:
            self._notes.append(f'{", ".join(sorted({a.namespace for a in others}))} also cached {key}; a copy another '
                               'namespace made is not used as the upstream image unless prefer includes trusted')
        return found

    def _bare_candidates(self, name: str, prefer: Optional[Sequence[str]]) -> List[Candidate]:
        found: List[Candidate] = []
        seen = set()

        def add(candidate: Candidate) -> None:
            key = candidate.artifact.uuid if candidate.artifact else candidate.ref
            if key not in seen:
                seen.add(key)
                found.append(candidate)

        index = self.api.index()
        uploads = index.uploads(None, name)  # reads the listing, which the labels then use (no by-name read)
        for artifact in index.labels(self.namespace, name) + index.labels('system', name) + uploads:
            add(self._candidate(artifact))
        if is_upstream_shorthand(name):
            for candidate in self._upstream(name, upstream_url(name, self.image_base_url), prefer):
                add(candidate)
        return found

    def choose(
        self, text: str, candidates: List[Candidate], prefer: Optional[Sequence[str]]
    ) -> Tuple[Candidate, List[Candidate]]:
        if len(candidates) == 1:
            return candidates[0], []
        listed = [c.describe() for c in candidates]
        if prefer:
            for origin in prefer:
                matching = [c for c in candidates if origin in c.origins]
                if len(matching) == 1:
                    return matching[0], [c for c in candidates if c is not matching[0]]
                if len(matching) > 1:
                    break
        explicit = ', '.join(c.ref for c in candidates)
        raise SfAmbiguousReference(
            f'reference {text!r} is ambiguous: it matches {len(candidates)} artifacts ({explicit})',
            candidates=listed,
            hint='use one of the explicit forms listed, or set prefer (for example [namespace, system, upstream]) '
                 'to choose on purpose',
        )

    def match(self, text: str, prefer: Optional[Sequence[str]] = None) -> Optional[Artifact]:
        """The one artifact a reference means, in whatever state, without pinning a version; None when nothing
        matches (or only an upstream image the cluster has not fetched). For listings, where nothing matching is an
        empty answer: a malformed or ambiguous reference is still an error. A blob reference names no artifact."""
        parsed = parse_ref(text, self.namespace)
        candidates = [] if parsed.kind == 'blob' else self.candidates(parsed, prefer)
        return self.choose(text, candidates, prefer)[0].artifact if candidates else None

    def resolve(
        self,
        text: str,
        version: VersionSpec = None,
        sha512: Optional[str] = None,
        prefer: Optional[Sequence[str]] = None,
    ) -> Resolution:
        """Resolve and pin a reference; results are cached for the life of this resolver (one task run)."""
        if prefer:
            unknown = [origin for origin in prefer if origin not in ORIGINS]
            if unknown:
                raise SfInvalidInput(f'prefer accepts {", ".join(ORIGINS)}; got {", ".join(map(str, unknown))}')
        version = parse_version(version)
        sha512 = validate_sha512(sha512) if sha512 else None
        key = (text, version, sha512, tuple(prefer or ()))
        if key in self._cache:
            return self._cache[key]
        parsed = parse_ref(text, self.namespace)
        if parsed.kind == 'blob':
            result = self._resolve_blob(text, parsed.uuid or '', version, sha512)
        else:
            candidates = self.candidates(parsed, prefer)
            if not candidates:
                raise self._not_found(text, parsed)
            chosen, shadowed = self.choose(text, candidates, prefer)
            result = self._pin(text, chosen, version, sha512)
            if shadowed:
                result.shadowed = [c.ref for c in shadowed]
                result.warnings.append(f'{text!r} matched {len(shadowed) + 1} candidates; prefer chose {chosen.ref} '
                                       f'over {", ".join(result.shadowed)}')
            result.warnings.extend(self._notes)
        self._cache[key] = result
        return result

    def _not_found(self, text: str, parsed: ParsedRef) -> SfError:
        near = near_refs(parsed.name, self.api.index()) if parsed.name else []
        suffix = f'; did you mean {", ".join(near)}?' if near else ''
        where = f' visible to namespace {self.namespace!r}'
        return SfNotFound(f'no artifact matches {text!r}{where}{suffix}', detail={'near': near},
                          hint='list what exists with shakenfist.storage.sf_artifact_info')

    def _resolve_blob(self, text: str, uuid: str, version: Optional[int], sha512: Optional[str]) -> Resolution:
        if version is not None:
            raise SfInvalidInput('a blob reference has no versions; do not combine sf://blob/ with version')
        blob = self.api.get_blob(uuid)
        if blob.state != 'created':
            raise SfNotReady(f'blob {uuid} is in state {blob.state}, so nothing can point at it',
                             hint='point at an artifact (an image name, a label) rather than a blob UUID')
        if sha512 and blob.sha512 != sha512:
            raise SfNotFound(f'blob {uuid} has sha512 {blob.sha512}, not the expected {sha512}')
        return Resolution(input=text, ref=f'sf://blob/{uuid}', origin='explicit', kind='blob', state=blob.state,
                          blob_uuid=uuid, sha512=blob.sha512, size=blob.size, disk_base=f'sf://blob/{uuid}')

    def _pin(self, text: str, candidate: Candidate, version: Optional[int], sha512: Optional[str]) -> Resolution:
        artifact = candidate.artifact
        if artifact is None:
            if version is not None or sha512:
                raise SfNotFound(f'{candidate.ref} has not been fetched into the cluster yet, so it has no versions',
                                 hint='publish it with shakenfist.storage.sf_image_publish, then pin a version')
            return Resolution(input=text, ref=candidate.ref, origin=candidate.origin, kind='upstream',
                              name=text if '://' not in text else artifact_name(text), type='image',
                              state='not fetched', source_url=candidate.url, disk_base=candidate.url)
        chosen = self.pick_version(artifact, version, sha512)
        return Resolution(
            input=text, ref=artifact.ref, origin=candidate.origin, kind=candidate.kind,
            uuid=artifact.uuid, namespace=artifact.namespace, name=artifact.name,
            type=artifact.artifact_type, state=artifact.state, source_url=artifact.source_url,
            shared=artifact.shared, version=chosen.index, blob_uuid=chosen.uuid, sha512=chosen.sha512,
            size=chosen.size, disk_base=f'sf://blob/{chosen.uuid}')

    def pick_version(self, artifact: Artifact, version: Optional[int], sha512: Optional[str]) -> ArtifactVersion:
        if artifact.state == 'error':
            raise SfNotReady(f'{artifact.ref} is in state error: '
                             f'{artifact.error_message or "the server gave no reason"}')
        versions = newest_first(self.api.artifact_versions(artifact.uuid))
        if not versions:
            raise SfNotReady(f'{artifact.ref} has no versions yet (state {artifact.state})')
        available = ', '.join(str(v.index) for v in versions)
        if version is not None:
            matching = [v for v in versions if v.index == version]
            if not matching:
                raise SfNotFound(f'{artifact.ref} has no version {version}; it has {available}')
            chosen = matching[0]
            if sha512 and chosen.sha512 != sha512:
                raise SfNotFound(f'version {version} of {artifact.ref} has sha512 {chosen.sha512}, '
                                 f'not the expected {sha512}')
            return chosen
        if sha512:
            matching = [v for v in versions if v.sha512 == sha512]
            if not matching:
                raise SfNotFound(f'no version of {artifact.ref} has sha512 {sha512[:16]}...; '
                                 f'it has versions {available}')
            return matching[0]
        return versions[0]


def near_refs(name: str, artifacts: Iterable[Artifact]) -> List[str]:
    """The refs of up to five of `artifacts` whose names are close to `name`: what a misspelling likely meant."""
    names: Dict[str, str] = {}
    for artifact in artifacts:
        names.setdefault(artifact.name, artifact.ref)
    return [names[match] for match in difflib.get_close_matches(name, list(names), n=5, cutoff=0.6)]


def parse_version(version: VersionSpec) -> Optional[int]:
    """`latest`, None or '' mean the newest version; otherwise a positive version number."""
    if version is None or version == '' or (isinstance(version, str) and version.lower() == 'latest'):
        return None
    try:
        number = int(version)
        if isinstance(version, float) and version != number:
            raise ValueError('not a whole number')
    except (TypeError, ValueError, OverflowError):
        raise SfInvalidInput(f'version must be "latest" or a version number, got {version!r}') from None
    if number < 1:
        raise SfInvalidInput(f'version numbers start at 1, got {number}')
    return number
