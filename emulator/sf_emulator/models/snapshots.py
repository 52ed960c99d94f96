"""Snapshots: the `snapshot` artifact of each instance device (`sf://instance/<uuid>/<device>`), whose versions
are copies of the device's disk file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import add_blob_ref, create_blob, get_blob, release_if_unused

if TYPE_CHECKING:
    from sf_emulator.config import Config

INSTANCE_URL = 'sf://instance/'
CHUNK = 4 * 1024 * 1024


def snapshot_artifact(tx: Tx, instance: Any, device: str, max_versions: int) -> tuple[str, bool]:
    """`owned_from_url_or_new`: the instance namespace's snapshot artifact for a device, and whether it was made
    now; max_versions applies on create only."""
    url = f'{INSTANCE_URL}{instance["uuid"]}/{device}'
    existing = artifacts.find_owned_by_url(tx, instance['namespace'], 'snapshot', url)
    if existing is not None:
        return str(existing['uuid']), False
    made = artifacts.create_artifact(tx, name=f'{instance["uuid"]}/{device}', namespace=instance['namespace'],
                                     artifact_type='snapshot', source_url=url, max_versions=max_versions)
    return made, True


def copy_hashed(source: Path, destination: Path) -> tuple[int, str]:
    digest = hashlib.sha512()
    size = 0
    with open(source, 'rb') as src, open(destination, 'wb') as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, 'rb') as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def store_version(config: Config, tx: Tx, artifact_uuid: str, blob_uuid: str, size: int, sha512: str | None,
                   depends_on: str | None, force: bool, keep_unused: bool = False) -> None:
    """Make the blob (sha512 None: left to the checksum pass) and add it as the artifact's newest version, unless
    it equals the newest one (`force`: always). A blob that is not added is released, or kept as an unused
    `created` blob with `keep_unused` (0.7.2's unchanged NVRAM)."""
    create_blob(tx, blob_uuid, size, sha512, depends_on=depends_on)
    if depends_on and get_blob(tx, depends_on) is not None:
        add_blob_ref(tx, depends_on, 'depends_on', 'blob', blob_uuid, '0')  # a thin blob keeps its base alive
    art = artifacts.get_artifact(tx, artifact_uuid)
    if art is None or art['state'] == 'deleted':
        release_if_unused(tx, blob_uuid)
        return
    added = artifacts.add_version(tx, config, artifact_uuid, blob_uuid, force=force)
    if not added and not keep_unused:
        release_if_unused(tx, blob_uuid)  # unchanged disk: the newest version stays, this blob is unused
    tx.execute("UPDATE artifacts SET state = 'created', error_message = NULL WHERE uuid = ?", (artifact_uuid,))
