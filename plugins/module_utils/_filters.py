# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which objects a reader wants: the one matcher for names, types, owners, sharing, source URLs and metadata, so the
artifact index, the info modules, labels and the cleanup cannot disagree on what a filter means.

Name patterns are shell-style and case-sensitive on every platform (fnmatch's default follows the platform).
No Ansible imports, no requests: callers read what a filter needs and decide what no match means.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, List, Mapping, Optional, Sequence

from ._models import Artifact


def name_matches(name: str, pattern: Optional[str]) -> bool:
    """No pattern matches every name."""
    return not pattern or fnmatch.fnmatchcase(name, pattern)


def first_pattern(name: Optional[str], patterns: Sequence[str]) -> Optional[str]:
    """The first of `patterns` that `name` matches; a nameless object matches none."""
    return next((pattern for pattern in patterns if name and fnmatch.fnmatchcase(name, pattern)), None)


def metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Every wanted key has exactly the wanted value (nothing wanted matches any metadata)."""
    return all(metadata.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class ArtifactFilter:
    """What an artifact must be to match. Every criterion left unset (None; for `pattern`, `types` and `metadata`
    also empty) matches every artifact."""

    pattern: Optional[str] = None  # a shell-style pattern the name matches
    name: Optional[str] = None  # exactly this name
    types: Optional[Collection[str]] = None  # one of these artifact types
    namespace: Optional[str] = None  # owned by this namespace
    shared: Optional[bool] = None
    source_url: Optional[str] = None  # exactly this source URL
    source_prefix: Optional[str] = None  # a source URL starting with this
    metadata: Optional[Mapping[str, Any]] = None  # these keys with these values

    def matches(self, artifact: Artifact, metadata: Optional[Callable[[Artifact], Mapping[str, Any]]] = None) -> bool:
        """`metadata` reads an artifact's metadata when the view's will not do; it is asked last, only for an
        artifact every other criterion matches, and only when metadata is wanted."""
        return (name_matches(artifact.name, self.pattern)
                and self.name in (None, artifact.name)
                and (not self.types or artifact.artifact_type in self.types)
                and self.namespace in (None, artifact.namespace)
                and self.shared in (None, artifact.shared)
                and self.source_url in (None, artifact.source_url)
                and (self.source_prefix is None or artifact.source_url.startswith(self.source_prefix))
                and (not self.metadata
                     or metadata_matches(metadata(artifact) if metadata else artifact.metadata, self.metadata)))

    def select(self, artifacts: Iterable[Artifact],
               metadata: Optional[Callable[[Artifact], Mapping[str, Any]]] = None) -> List[Artifact]:
        return [artifact for artifact in artifacts if self.matches(artifact, metadata)]
