# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publishing images: finding what a name already holds, content-addressed reuse, and post-upload checks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from ._api import SfApi, newest_first
from ._errors import SfAmbiguousReference, SfError, SfNotFound, SfTimeout
from ._models import Artifact, ArtifactVersion
from ._refs import upload_url
from ._resolver import uploads_named

POLL_INTERVAL = 0.5


@dataclass
class Current:
    """What a published name holds now: the artifact and its newest version, if any."""

    artifact: Optional[Artifact]
    newest: Optional[ArtifactVersion]

    def summary(self) -> Dict[str, Any]:
        artifact, newest = self.artifact, self.newest
        return {
            'exists': artifact is not None,
            'version': newest.index if newest else None,
            'sha512': newest.sha512 if newest else None,
            'size': newest.size if newest else None,
            'shared': artifact.shared if artifact else None,
            'max_versions': artifact.max_versions if artifact else None,
        }


def find_published(api: SfApi, namespace: str, name: str) -> Current:
    """The upload artifact `name` owned by `namespace` (several are an error the user must sort out)."""
    found = uploads_named(api.list_artifacts(), namespace, name)
    if len(found) > 1:
        raise SfAmbiguousReference(
            f'namespace {namespace!r} owns {len(found)} artifacts named {name!r}',
            candidates=[{'ref': f'sf://artifact/{a.uuid}', 'uuid': a.uuid, 'state': a.state} for a in found],
            hint='delete the extra ones by UUID (state: absent on sf://artifact/<uuid>) before publishing')
    if not found:
        return Current(None, None)
    return current_of(api, found[0])


def find_fetched(api: SfApi, namespace: str, url: str) -> Current:
    found = [a for a in api.list_artifacts() if a.namespace == namespace and a.artifact_type == 'image'
             and a.source_url == url]
    return current_of(api, found[0]) if found else Current(None, None)


def current_of(api: SfApi, artifact: Artifact) -> Current:
    versions = newest_first(api.artifact_versions(artifact.uuid, refresh=True)) if artifact.index else []
    return Current(artifact, versions[0] if versions else None)


def source_url_for(namespace: str, name: str) -> str:
    # Sent explicitly: the server would otherwise use the caller's namespace even when publishing elsewhere.
    return upload_url(namespace, name)


def wait_for_fetch(api: SfApi, uuid: str, previous_index: int, timeout: float,
                   log: Optional[Callable[[str], None]] = None) -> Artifact:
    """Wait until the cluster finished fetching: the artifact left `initial` and its fetch operation ended."""
    deadline = time.monotonic() + timeout
    op_done = not api.has_capability('get-cluster-operations')
    while True:
        artifact = api.get_artifact(uuid)
        if artifact.state == 'error':
            return artifact
        if not op_done and artifact.last_cluster_operation:
            op = artifact.last_cluster_operation
            try:
                state = api.get_operation(op['op_type'], op['op_uuid']).state
            except SfNotFound:
                state = 'complete'  # Finished operations are removed after a while.
            except SfError:
                state = 'unknown'
            if state in ('error', 'abort'):
                return artifact
            op_done = state == 'complete'
        elif not artifact.last_cluster_operation:
            op_done = True
        if artifact.state == 'created' and (op_done or artifact.index > previous_index):
            return artifact
        if time.monotonic() > deadline:
            raise SfTimeout(f'the cluster did not finish fetching within {timeout:.0f}s (state {artifact.state})',
                            hint='raise wait_timeout, or set wait: false and check later')
        if log:
            log(f'waiting for the fetch of artifact {uuid} (state {artifact.state})')
        time.sleep(POLL_INTERVAL)
