"""Extension points that later domain modules (instances, networks, cluster operations) plug into.

The core works without them: artifact fetches then have no cluster operation (`last_cluster_operation: null`),
`GET /artifacts/<ref>/clusteroperations` answers `[]`, and namespace delete has no extra preconditions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sf_emulator.db import Tx


class ClusterOps(Protocol):
    def create(
        self, tx: Tx, op_type: str, target_type: str, target_uuid: str, namespace: str, extra: dict[str, Any]
    ) -> str | None:
        """Record a new `queued` op on a target; return its UUID (None: ops are not tracked)."""

    def set_state(self, tx: Tx, op_uuid: str, state: str) -> None:
        """Move an op to `executing`, `complete`, `error`, ..."""

    def list_for_target(self, tx: Tx, target_type: str, target_uuid: str, include_all: bool) -> list[dict[str, Any]]:
        """Op views targeting an object; only outstanding ones unless include_all."""


class NoClusterOps:
    def create(
        self, tx: Tx, op_type: str, target_type: str, target_uuid: str, namespace: str, extra: dict[str, Any]
    ) -> str | None:
        return None

    def set_state(self, tx: Tx, op_uuid: str, state: str) -> None:
        return None

    def list_for_target(self, tx: Tx, target_type: str, target_uuid: str, include_all: bool) -> list[dict[str, Any]]:
        return []


class Hooks:
    cluster_ops: ClusterOps = NoClusterOps()
    # Called inside the namespace-delete write transaction before anything changes: raise ApiError to refuse
    # (e.g. 400 'you cannot delete a namespace with instances').
    namespace_delete_checks: list[Callable[[Tx, str], None]] = []
    # Called in the same transaction after the namespace's artifacts were deleted, to clean other objects.
    namespace_delete_actions: list[Callable[[Tx, str], None]] = []


HOOKS = Hooks()


def set_cluster_ops(implementation: ClusterOps) -> None:
    HOOKS.cluster_ops = implementation
