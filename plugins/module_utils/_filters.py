# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which objects a reader wants: the one matcher for names, types, owners, sharing, source URLs and metadata, so the
index, the info modules, labels and the cleanup cannot disagree. Name patterns are shell-style and case-sensitive on
every platform (fnmatch's default follows the platform). Pure: callers read what a filter needs.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, List, Mapping, Optional, Sequence

from ._models import Artifact


def name_matches(name: str, pattern: Optional[str]) -> bool:
    return not pattern or fnmatch.fnmatchcase(name, pattern)


def first_pattern(name: Optional[str], patterns: Sequence[str]) -> Optional[str]:
    """The first of `patterns` that `name` matches; a nameless object matches none."""
    return next((pattern for pattern in patterns if name and fnmatch.fnmatchcase(name, pattern)), None)


def metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(metadata.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class ArtifactFilter:
    """Every criterion left unset (None; `pattern`, `types` and `metadata` also when empty) matches everything."""

    pattern: Optional[str] = None  # shell-style, for the name
    name: Optional[str] = None
    types: Optional[Collection[str]] = None  # any of these
    namespace: Optional[str] = None  # the owner
    shared: Optional[bool] = None
    source_url: Optional[str] = None
    source_prefix: Optional[str] = None
    metadata: Optional[Mapping[str, Any]] = None  # these keys with these values

    def matches(self, artifact: Artifact, metadata: Optional[Callable[[Artifact], Mapping[str, Any]]] = None) -> bool:
        """`metadata` reads the metadata to match when the view's will not do: last, and only when needed."""
        return (name_matches(artifact.name, self.pattern) and self.name in (None, artifact.name)
                and (not self.types or artifact.artifact_type in self.types)
                and self.namespace in (None, artifact.namespace) and self.shared in (None, artifact.shared)
                and self.source_url in (None, artifact.source_url)
                and (self.source_prefix is None or artifact.source_url.startswith(self.source_prefix))
                and (not self.metadata
                     or metadata_matches(metadata(artifact) if metadata else artifact.metadata, self.metadata)))

    def select(self, artifacts: Iterable[Artifact],
               metadata: Optional[Callable[[Artifact], Mapping[str, Any]]] = None) -> List[Artifact]:
        return [artifact for artifact in artifacts if self.matches(artifact, metadata)]
