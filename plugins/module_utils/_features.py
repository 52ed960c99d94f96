# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the server can do, read once from its root page: the one place behaviour is chosen by server version.

Shaken Fist advertises capabilities as strings on `GET /`, and the official client tests them by substring; so does
this collection, here and nowhere else. Each flag says which code path it selects. The oldest server supported,
0.7.2, has none of the newer ones (docs/compatibility.md); answer shapes that differ without a capability (a
listing without `metadata`, a delete answered 200 or 202) are handled where they are read, by their shape.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerFeatures:
    # Artifact metadata routes: label history, publish and snapshot set records are kept there.
    artifact_metadata: bool = False
    # GET /blob_checksums/sha512/<hash>: reuse bytes the cluster already has instead of uploading them.
    blob_search_by_hash: bool = False
    # Long operations (snapshots, URL fetches, deletes) report their progress and failure as cluster operations.
    # Without them (0.7.2) a failed snapshot is silent: its blob never appears, and the wait ends at its deadline.
    cluster_operations: bool = False
    # The events routes take `limit` (and `event_type`). 0.7.2 advertises this too and ignores the limit, so the
    # list is always cut on our side as well.
    events_by_type: bool = False

    @classmethod
    def from_root_page(cls, text: str) -> ServerFeatures:
        return cls(artifact_metadata='artifact-metadata' in text,
                   blob_search_by_hash='blob-search-by-hash' in text,
                   cluster_operations='get-cluster-operations' in text,
                   events_by_type='events-by-type' in text)
