"""Artifacts: rows, views, versions (C.5), name/UUID resolution (C.1) and visibility (C.7)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.config import Config, current
from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.errors import ApiError, bad_request, not_found
from sf_emulator.models.blobs import add_blob_ref, checksums, instances_by_blob, ref_view, remove_blob_refs
from sf_emulator.models.events import add_event
from sf_emulator.models.max_versions import effective as effective_max_versions
from sf_emulator.models.max_versions import to_trim
from sf_emulator.models.namespaces import SYSTEM, namespaces_trusting, trusts

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

register_schema(
    'artifacts',
    '''
    CREATE TABLE IF NOT EXISTS artifacts (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        namespace TEXT NOT NULL,
        artifact_type TEXT NOT NULL,
        source_url TEXT NOT NULL,
        state TEXT NOT NULL,
        shared INTEGER NOT NULL DEFAULT 0,
        max_versions INTEGER NOT NULL DEFAULT 0,
        highest_index INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL,
        error_message TEXT,
        last_op TEXT,
        created REAL NOT NULL,
        seq INTEGER
    );
    CREATE INDEX IF NOT EXISTS artifacts_ns ON artifacts (namespace, state);
    CREATE INDEX IF NOT EXISTS artifacts_name ON artifacts (name, state);
    CREATE INDEX IF NOT EXISTS artifacts_url ON artifacts (source_url, artifact_type);
    CREATE INDEX IF NOT EXISTS artifacts_shared ON artifacts (shared, state);
    ''',
)

ACTIVE = ('initial', 'created', 'error')
TYPES = ('image', 'snapshot', 'label', 'other')
INDEX = 'artifact_index'


def is_uuid(ref: str) -> bool:
    try:
        return str(uuid.UUID(ref)) == ref.lower() and uuid.UUID(ref).version == 4
    except ValueError:
        return False


def index_value(index: int) -> str:
    return f'{index:012d}'


def create_artifact(
    tx: Tx,
    *,
    name: str,
    namespace: str,
    artifact_type: str,
    source_url: str,
    shared: bool = False,
    max_versions: int = 0,
    state: str = 'initial',
) -> str:
    artifact_uuid = str(uuid.uuid4())
    tx.execute(
        'INSERT INTO artifacts (uuid, name, namespace, artifact_type, source_url, state, shared, max_versions, '
        'highest_index, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)',
        (artifact_uuid, name, namespace, artifact_type, source_url, state, int(shared), max_versions, dumps({}),
         time.time()),
    )
    add_event(tx, 'artifact', artifact_uuid, 'artifact created',
              extra={'name': name, 'namespace': namespace, 'source_url': source_url, 'type': artifact_type})
    return artifact_uuid


def get_artifact(tx: Tx, artifact_uuid: str) -> Any:
    return tx.one('SELECT * FROM artifacts WHERE uuid = ?', (artifact_uuid,))


def set_state(tx: Tx, artifact_uuid: str, state: str, error_message: str | None = None) -> None:
    tx.execute('UPDATE artifacts SET state = ?, error_message = ? WHERE uuid = ?',
               (state, error_message, artifact_uuid))
    add_event(tx, 'artifact', artifact_uuid, f'artifact state changed to {state}', event_type='mutate',
              extra={'error_message': error_message} if error_message else None)


def set_last_op(tx: Tx, artifact_uuid: str, op_type: str, op_uuid: str | None) -> None:
    """The `last_cluster_operation` handle of the view (None clears it)."""
    value = None if op_uuid is None else dumps({'op_type': op_type, 'op_uuid': op_uuid})
    tx.execute('UPDATE artifacts SET last_op = ? WHERE uuid = ?', (value, artifact_uuid))


# --- versions ---------------------------------------------------------------------------------------------------
def versions(tx: Tx, artifact_uuid: str) -> list[Any]:
    """Version references in index order, joined with their blobs (missing blobs skipped)."""
    return tx.all(
        'SELECT r.*, b.size AS size, b.reference_count AS reference_count, b.depends_on AS depends_on '
        'FROM blob_refs r JOIN blobs b ON b.uuid = r.blob_uuid '
        "WHERE r.source_type = 'artifact' AND r.source_uuid = ? AND r.relationship = ? ORDER BY r.value",
        (artifact_uuid, INDEX),
    )


def add_version(tx: Tx, config: Config, artifact_uuid: str, blob_uuid: str, force: bool = False) -> bool:
    """Add a blob as the newest version unless it is the newest already (same UUID or same sha512)."""
    art = get_artifact(tx, artifact_uuid)
    current = versions(tx, artifact_uuid)
    if current and not force:
        newest = current[-1]['blob_uuid']
        if newest == blob_uuid:
            return False
        new_sum = checksums(tx, blob_uuid).get('sha512')
        if new_sum and new_sum == checksums(tx, newest).get('sha512'):
            return False
    index = art['highest_index'] + 1
    tx.execute('UPDATE artifacts SET highest_index = ? WHERE uuid = ?', (index, artifact_uuid))
    add_blob_ref(tx, blob_uuid, INDEX, 'artifact', artifact_uuid, index_value(index))
    add_event(tx, 'artifact', artifact_uuid, 'version added', extra={'index': index, 'blob_uuid': blob_uuid})
    trim_versions(tx, config, artifact_uuid)
    return True


def trim_versions(tx: Tx, config: Config, artifact_uuid: str) -> None:
    art = get_artifact(tx, artifact_uuid)
    keep = effective_max_versions(config, art['max_versions'])
    for old in to_trim(versions(tx, artifact_uuid), keep):
        remove_blob_refs(tx, 'artifact', artifact_uuid, INDEX, old['value'])
        add_event(tx, 'artifact', artifact_uuid, 'version removed by max_versions',
                  extra={'index': int(old['value']), 'blob_uuid': old['blob_uuid']})


def delete_version(tx: Tx, artifact_uuid: str, index: int) -> None:
    gone = remove_blob_refs(tx, 'artifact', artifact_uuid, INDEX, index_value(index))
    if not gone:
        raise not_found('artifact index not found')
    add_event(tx, 'artifact', artifact_uuid, 'version deleted', extra={'index': index})
    if not versions(tx, artifact_uuid):
        set_state(tx, artifact_uuid, 'deleted')


def delete_artifact(tx: Tx, artifact_uuid: str) -> None:
    remove_blob_refs(tx, 'artifact', artifact_uuid)
    tx.execute("UPDATE artifacts SET state = 'deleted' WHERE uuid = ?", (artifact_uuid,))
    add_event(tx, 'artifact', artifact_uuid, 'artifact deleted', event_type='mutate')


# --- views ------------------------------------------------------------------------------------------------------
def artifact_view(
    art: Any,
    refs: list[Any],
    profile: ServerProfile,
    *,
    default_max_versions: int = 3,
    blob_instances: dict[str, list[str]] | None = None,
    top_instances: bool = False,
) -> dict[str, Any]:
    """The artifact view of B.1.1, as the profile's release shows it. `refs`: version rows from `versions()`.

    blob_instances: add `instances` to each `blobs` entry (GET one); top_instances: add a top-level `instances`
    for the newest blob (listing) and view it as a listing entry.
    """
    deleted = art['state'] == 'deleted'
    view: dict[str, Any] = {
        'uuid': art['uuid'],
        'state': art['state'],
        'metadata': loads(art['metadata'], {}),
        'version': 9,
        'artifact_type': art['artifact_type'],
        'source_url': art['source_url'],
        'max_versions': art['max_versions'] or default_max_versions,  # 0 means the default: show what applies
        'namespace': art['namespace'],
        'shared': bool(art['shared']),
        'error_message': art['error_message'],
        'last_cluster_operation': loads(art['last_op']),
        'index': 0,
    }
    blobs: dict[str, Any] = {}
    for ref in refs:
        entry = {'uuid': ref['blob_uuid'], 'size': ref['size'], 'reference_count': ref['reference_count'],
                 'depends_on': ref['depends_on']}
        if blob_instances is not None:
            entry['instances'] = blob_instances.get(ref['blob_uuid'], [])
        blobs[str(int(ref['value']))] = entry
    if refs:
        view['index'] = int(refs[-1]['value'])
        view['blob_uuid'] = refs[-1]['blob_uuid']
    view['blobs'] = blobs
    if top_instances and refs and blob_instances is not None:
        view['instances'] = blob_instances.get(refs[-1]['blob_uuid'], [])
    view['references_to'] = {}
    view['references_from'] = {} if deleted or not refs else {INDEX: [ref_view(r) for r in refs]}
    return profile.view('artifact-listing' if top_instances else 'artifact', view)


def full_view(tx: Tx, art: Any, profile: ServerProfile, with_instances: bool = True) -> dict[str, Any]:
    refs = versions(tx, art['uuid'])
    instances = instances_by_blob(tx, [r['blob_uuid'] for r in refs]) if with_instances else None
    default = int(current()['max_versions_default'])
    return artifact_view(art, refs, profile, blob_instances=instances, default_max_versions=default)


# --- visibility and resolution ----------------------------------------------------------------------------------
def can_see(tx: Tx, art: Any, caller: str) -> bool:
    if caller in (SYSTEM, art['namespace']) or art['shared']:
        return True
    return art['namespace'] in namespaces_trusting(tx, caller)


def can_change(art: Any, caller: str) -> bool:
    return caller in (SYSTEM, art['namespace'])


def _ambiguous_in(name: str, namespace: str) -> ApiError:
    return bad_request(f'multiple artifacts have the name "{name}" in namespace "{namespace}"')


def _ambiguous_visible(name: str, caller: str) -> ApiError:
    return bad_request(f'multiple artifacts visible to "{caller}" have the name "{name}", use a UUID to choose one')


def resolve(tx: Tx, caller: str, ref: str, namespace: Any = None, *, write: bool = False, widen: bool = True) -> Any:
    """Find the artifact a route means (C.1): UUID or name; writes need ownership and never widen. `widen` False
    (0.7.2's `from_db_by_ref`): a name is looked up in the caller's namespace only, system's in every namespace at
    once, so two namespaces' artifacts of one name are ambiguous for system even when it owns one of them."""
    if namespace is not None and (not isinstance(namespace, str) or caller not in (SYSTEM, namespace)):
        raise not_found('artifact not found')
    if is_uuid(ref):
        art = get_artifact(tx, ref)
        if art is None or (namespace is not None and art['namespace'] != namespace):
            raise not_found('artifact not found')
        allowed = can_change(art, caller) if write else can_see(tx, art, caller)
        if not allowed:
            raise not_found('artifact not found')
        return art
    marks = ','.join('?' * len(ACTIVE))
    base = f'SELECT * FROM artifacts WHERE name = ? AND state IN ({marks})'  # noqa: S608
    home = namespace if namespace is not None else caller
    if namespace is None and not widen:
        matches = tx.all(base, (ref, *ACTIVE)) if caller == SYSTEM else tx.all(base + ' AND namespace = ?',
                                                                                (ref, *ACTIVE, caller))
        if len(matches) > 1:
            raise _ambiguous_in(ref, caller)
        if not matches:
            raise not_found('artifact not found')
        return matches[0]
    matches = tx.all(base + ' AND namespace = ?', (ref, *ACTIVE, home))
    if len(matches) > 1:
        raise _ambiguous_in(ref, home)
    if matches:
        return matches[0]
    if namespace is not None:
        raise not_found('artifact not found')
    if caller == SYSTEM:  # system's search covers every namespace, for reads and writes
        matches = tx.all(base, (ref, *ACTIVE))
    elif not write:
        matches = [m for m in tx.all(base, (ref, *ACTIVE)) if can_see(tx, m, caller)]
    if len(matches) > 1:
        raise _ambiguous_visible(ref, caller)
    if not matches:
        raise not_found('artifact not found')
    return matches[0]


def find_owned_by_url(tx: Tx, namespace: str, artifact_type: str, source_url: str) -> Any:
    """The active artifact of a type and source_url owned by a namespace (URL-based resolution, C.5/C.6)."""
    marks = ','.join('?' * len(ACTIVE))
    rows = tx.all(
        f'SELECT * FROM artifacts WHERE source_url = ? AND artifact_type = ? AND namespace = ? '  # noqa: S608
        f'AND state IN ({marks}) ORDER BY created',
        (source_url, artifact_type, namespace, *ACTIVE),
    )
    if len(rows) > 1:
        raise ApiError(500, 'server error: TooManyMatches()')
    return rows[0] if rows else None


def owned_or_new(
    tx: Tx, caller: str, target: str, artifact_type: str, source_url: str, name: str, max_versions: int = 0
) -> tuple[str, bool]:
    """Resolution by ownership (C.4): reuse the target's artifact with that URL, or gift a new one.

    Returns (uuid, created). Updating needs the owner or system; creating needs the target to trust the caller.
    """
    if not trusts(tx, target, caller):
        raise not_found('namespace not found')
    existing = find_owned_by_url(tx, target, artifact_type, source_url)
    if existing is not None:
        if caller not in (SYSTEM, target):
            raise not_found('namespace not found')
        return existing['uuid'], False
    new = create_artifact(tx, name=name, namespace=target, artifact_type=artifact_type, source_url=source_url,
                          max_versions=max_versions)
    return new, True


def find_visible_by_url(tx: Tx, caller: str, artifact_type: str, source_url: str) -> list[Any]:
    """Active artifacts of a type and source_url the caller can see (for disk bases, C.6)."""
    marks = ','.join('?' * len(ACTIVE))
    rows = tx.all(
        f'SELECT * FROM artifacts WHERE source_url = ? AND artifact_type = ? '  # noqa: S608
        f'AND state IN ({marks}) ORDER BY created',
        (source_url, artifact_type, *ACTIVE),
    )
    return [r for r in rows if can_see(tx, r, caller)]
