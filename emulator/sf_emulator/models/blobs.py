"""Blobs: rows, files under DATA/blobs, checksums and references with their counts.

A reference is a row in `blob_refs` (source object -> blob, with a relationship such as `artifact_index` or
`disk`). `reference_count` is kept in the blob row in the same transaction; when it falls to 0 the blob becomes
`deleted` and the cleaner removes its file. Artifact versions are `artifact_index` references whose value is the
version index zero-padded to 12 digits, exactly like the real server.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.models.events import add_event

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

register_schema(
    'blobs',
    '''
    CREATE TABLE IF NOT EXISTS blobs (
        uuid TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        size INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        fetched_at REAL,
        last_used REAL,
        depends_on TEXT,
        reference_count INTEGER NOT NULL DEFAULT 0,
        mime_type TEXT,
        info TEXT NOT NULL DEFAULT '{}',
        file_removed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS blobs_state ON blobs (state);
    CREATE TABLE IF NOT EXISTS blob_checksums (
        blob_uuid TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (blob_uuid, algorithm)
    );
    CREATE INDEX IF NOT EXISTS blob_checksums_hash ON blob_checksums (algorithm, hash);
    CREATE TABLE IF NOT EXISTS blob_refs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        blob_uuid TEXT NOT NULL,
        relationship TEXT NOT NULL,
        source_type TEXT NOT NULL,
        source_uuid TEXT NOT NULL,
        value TEXT NOT NULL,
        created REAL NOT NULL,
        last_active REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS blob_refs_blob ON blob_refs (blob_uuid);
    CREATE INDEX IF NOT EXISTS blob_refs_source ON blob_refs (source_type, source_uuid, relationship, value);
    ''',
)

ALGORITHMS = ('sha1', 'sha256', 'sha512', 'xxh128')


def blob_path(blob_dir: Path, blob_uuid: str) -> Path:
    return blob_dir / blob_uuid


def remove_unreferenced(directory: Path, known: set[str]) -> list[str]:
    """Remove the files in `directory` whose name is not in `known` (start-up only: nothing writes meanwhile)."""
    removed = []
    for entry in sorted(directory.iterdir()):
        if entry.name not in known and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    if removed:
        print(f'sf-emulator: removed {len(removed)} file(s) no row references from {directory}: '
              f'{", ".join(removed[:5])}{" ..." if len(removed) > 5 else ""}', file=sys.stderr, flush=True)
    return removed


def create_blob(
    tx: Tx,
    blob_uuid: str,
    size: int,
    sha512: str | None,
    state: str = 'created',
    depends_on: str | None = None,
    mime_type: str = 'application/octet-stream',
) -> None:
    now = time.time()
    tx.execute(
        'INSERT INTO blobs (uuid, state, size, metadata, created, modified, fetched_at, last_used, depends_on, '
        'reference_count, mime_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)',
        (blob_uuid, state, size, dumps({}), now, now, now, now, depends_on, mime_type),
    )
    if sha512:
        set_checksum(tx, blob_uuid, 'sha512', sha512)
    add_event(tx, 'blob', blob_uuid, 'blob created', extra={'size': size, 'state': state})


def set_checksum(tx: Tx, blob_uuid: str, algorithm: str, value: str) -> None:
    tx.execute(
        'INSERT OR REPLACE INTO blob_checksums (blob_uuid, algorithm, hash) VALUES (?, ?, ?)',
        (blob_uuid, algorithm, value),
    )


def checksums(tx: Tx, blob_uuid: str) -> dict[str, str]:
    rows = tx.all('SELECT algorithm, hash FROM blob_checksums WHERE blob_uuid = ?', (blob_uuid,))
    return {r['algorithm']: r['hash'] for r in rows}


def get_blob(tx: Tx, blob_uuid: str) -> Any:
    return tx.one('SELECT * FROM blobs WHERE uuid = ?', (blob_uuid,))


def set_blob_state(tx: Tx, blob_uuid: str, state: str, size: int | None = None) -> None:
    """Move a blob to a state (e.g. a pre-allocated snapshot blob to `created` once its file is complete)."""
    if size is None:
        tx.execute('UPDATE blobs SET state = ?, modified = ? WHERE uuid = ?', (state, time.time(), blob_uuid))
    else:
        tx.execute('UPDATE blobs SET state = ?, size = ?, modified = ? WHERE uuid = ?',
                   (state, size, time.time(), blob_uuid))
    add_event(tx, 'blob', blob_uuid, f'blob state changed to {state}', event_type='mutate')


def add_blob_ref(tx: Tx, blob_uuid: str, relationship: str, source_type: str, source_uuid: str, value: str) -> None:
    now = time.time()
    tx.execute(
        'INSERT INTO blob_refs (blob_uuid, relationship, source_type, source_uuid, value, created, last_active) '
        'VALUES (?, ?, ?, ?, ?, ?, ?)',
        (blob_uuid, relationship, source_type, source_uuid, value, now, now),
    )
    tx.execute('UPDATE blobs SET reference_count = reference_count + 1, last_used = ? WHERE uuid = ?',
               (now, blob_uuid))


def remove_blob_refs(
    tx: Tx,
    source_type: str,
    source_uuid: str,
    relationship: str | None = None,
    value: str | None = None,
) -> list[str]:
    """Remove references held by one object; blobs left with none become `deleted`. Returns affected blobs."""
    sql = 'SELECT id, blob_uuid FROM blob_refs WHERE source_type = ? AND source_uuid = ?'
    params: list[Any] = [source_type, source_uuid]
    if relationship is not None:
        sql += ' AND relationship = ?'
        params.append(relationship)
    if value is not None:
        sql += ' AND value = ?'
        params.append(value)
    rows = tx.all(sql, params)
    for row in rows:
        tx.execute('DELETE FROM blob_refs WHERE id = ?', (row['id'],))
        tx.execute('UPDATE blobs SET reference_count = reference_count - 1 WHERE uuid = ?', (row['blob_uuid'],))
    affected = sorted({r['blob_uuid'] for r in rows})
    for blob_uuid in affected:
        release_if_unused(tx, blob_uuid)
    return affected


def release_if_unused(tx: Tx, blob_uuid: str) -> None:
    """A created blob nothing refers to is deleted (its file goes with the next cleaner run)."""
    row = tx.one('SELECT state, reference_count FROM blobs WHERE uuid = ?', (blob_uuid,))
    if row is not None and row['reference_count'] <= 0 and row['state'] != 'deleted':
        tx.execute("UPDATE blobs SET state = 'deleted', reference_count = 0, modified = ? WHERE uuid = ?",
                   (time.time(), blob_uuid))
        add_event(tx, 'blob', blob_uuid, 'blob deleted: no references left', event_type='mutate')


def instances_by_blob(tx: Tx, blob_uuids: list[str]) -> dict[str, list[str]]:
    """Instance UUIDs that use each blob as a disk (references recorded by the instances module)."""
    result: dict[str, list[str]] = {b: [] for b in blob_uuids}
    if not blob_uuids:
        return result
    for chunk_start in range(0, len(blob_uuids), 500):
        chunk = blob_uuids[chunk_start:chunk_start + 500]
        marks = ','.join('?' * len(chunk))
        rows = tx.all(
            f"SELECT DISTINCT blob_uuid, source_uuid FROM blob_refs WHERE source_type = 'instance' "  # noqa: S608
            f'AND blob_uuid IN ({marks}) ORDER BY id',
            chunk,
        )
        for row in rows:
            if row['source_uuid'] not in result[row['blob_uuid']]:
                result[row['blob_uuid']].append(row['source_uuid'])
    return result


def ref_view(row: Any) -> dict[str, Any]:
    return {
        'source_object_type': row['source_type'],
        'source_uuid': row['source_uuid'],
        'relationship': row['relationship'],
        'relationship_value': row['value'],
        'target_object_type': 'blob',
        'target_uuid': row['blob_uuid'],
        'created': row['created'],
        'last_active': row['last_active'],
    }


def blob_view(tx: Tx, row: Any, profile: ServerProfile, *, show_locations: bool, node: str,
              with_instances: bool = True, listing: bool = False) -> dict[str, Any]:
    """The blob view as the profile's release shows it; `locations` when `show_locations` (system callers) or for
    everyone where the release sends it to everyone."""
    sums = checksums(tx, row['uuid'])
    refs: dict[str, list[dict[str, Any]]] = {}
    for ref in tx.all('SELECT * FROM blob_refs WHERE blob_uuid = ? ORDER BY id', (row['uuid'],)):
        refs.setdefault(ref['relationship'], []).append(ref_view(ref))
    view: dict[str, Any] = {
        'uuid': row['uuid'],
        'state': row['state'],
        'metadata': loads(row['metadata'], {}),
        'version': 6,
        'size': row['size'],
        'modified': row['modified'],
        'fetched_at': row['fetched_at'],
        'depends_on': row['depends_on'],
        'transcodes': {},
        'reference_count': row['reference_count'],
        'sha512': sums.get('sha512'),
        'checksums': sums,
        'last_used': row['last_used'],
    }
    if show_locations or profile.blob_locations_for_everyone:
        view['locations'] = [node] if row['state'] == 'created' else []
    view.update(loads(row['info'], {}))
    view['mime-type'] = row['mime_type']
    view['references_to'] = refs
    view['references_from'] = {}
    if with_instances:
        view['instances'] = instances_by_blob(tx, [row['uuid']])[row['uuid']]
    return profile.view('blob-listing' if listing else 'blob', view)
