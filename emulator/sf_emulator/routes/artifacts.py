"""`/artifacts...`: list, get, delete, versions, share, metadata, events, uploads into artifacts, URL caching."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.errors import ApiError, bad_request, forbidden, not_found, unauthorized
from sf_emulator.hooks import HOOKS
from sf_emulator.http.router import route
from sf_emulator.jobs.fetch import FetchError, check_url, queue_fetch
from sf_emulator.models import artifacts as model
from sf_emulator.models import max_versions as max_versions_rules
from sf_emulator.models.blobs import blob_view, get_blob, instances_by_blob, release_if_unused
from sf_emulator.models.events import add_event, list_events
from sf_emulator.models.namespaces import SYSTEM, get_namespace, namespaces_trusting, trusts
from sf_emulator.models.qcow2_header import open_error
from sf_emulator.models.uploads import ImageCheck, ImageRefused, convert_to_blob
from sf_emulator.routes.metadata import metadata_routes

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ('true', 'false', '1', '0', 'yes', 'no'):
        return value.lower() in ('true', '1', 'yes')
    raise bad_request(f'{name} must be a boolean')


def _target_namespace(tx: Tx, caller: str, namespace: Any) -> str:
    """The namespace a new object goes to: the caller's, or one that exists and trusts the caller."""
    target = caller if namespace is None else namespace
    if not isinstance(target, str) or not trusts(tx, target, caller):
        raise not_found('namespace not found')
    return target


# 0.7.2's requires_artifact_access logs through a method its logging library lacks: the read fails.
SHARED_READ_FAILURE = 'server error: AttributeError("\'SyslogAdapter\' object has no attribute \'with_object\'")'


def _widens(req: Request) -> bool:
    return req.app.profile.name_lookups_widen


def _readable(req: Request, ref: str, namespace: Any = None) -> Any:
    """The artifact a read route means. Where the profile's release fails another namespace's read of a shared
    artifact, that read is a 500 by UUID and a 404 by name (0.7.2 looks names up in the caller's namespace)."""
    with req.db.read() as tx:
        art = model.resolve(tx, req.namespace, ref, namespace, widen=_widens(req))
    if req.app.profile.shared_artifact_foreign_read_fails and art['shared'] and \
            req.namespace not in (SYSTEM, art['namespace']):
        if model.is_uuid(ref):
            raise ApiError(500, SHARED_READ_FAILURE)
        raise not_found('artifact not found')
    return art


# --- listing ----------------------------------------------------------------------------------------------------
@route('GET', '/artifacts')
def list_artifacts(req: Request, node: Any = None) -> list[dict[str, Any]]:
    """Every active artifact the caller can see; one pass over artifacts, versions and instance references. Where
    the profile filters by `node`, only artifacts whose newest blob is on that node (ours: any with a version)."""
    marks = ','.join('?' * len(model.ACTIVE))
    with req.db.read() as tx:
        if req.is_admin:
            arts = tx.all(f'SELECT * FROM artifacts WHERE state IN ({marks}) ORDER BY created',  # noqa: S608
                          model.ACTIVE)
        else:
            visible = namespaces_trusting(tx, req.namespace)
            spaces = ','.join('?' * len(visible))
            arts = tx.all(
                f'SELECT * FROM artifacts WHERE state IN ({marks}) '  # noqa: S608
                f'AND (shared = 1 OR namespace IN ({spaces})) ORDER BY created',
                (*model.ACTIVE, *visible),
            )
        wanted = {a['uuid'] for a in arts}
        refs: dict[str, list[Any]] = {}
        rows = tx.all(
            'SELECT r.*, b.size AS size, b.reference_count AS reference_count, b.depends_on AS depends_on '
            'FROM blob_refs r JOIN blobs b ON b.uuid = r.blob_uuid '
            "WHERE r.source_type = 'artifact' AND r.relationship = ? ORDER BY r.source_uuid, r.value",
            (model.INDEX,),
        )
        for row in rows:
            if row['source_uuid'] in wanted:
                refs.setdefault(row['source_uuid'], []).append(row)
        newest = [r[-1]['blob_uuid'] for r in refs.values() if r]
        instances = instances_by_blob(tx, newest) if tx.scalar(
            "SELECT 1 FROM blob_refs WHERE source_type = 'instance' LIMIT 1") else {}
    if node and req.app.profile.artifact_listing_filters_by_node:
        arts = [a for a in arts if node == req.config['node_name'] and refs.get(a['uuid'])]
    default = int(req.config['max_versions_default'])
    return [model.artifact_view(a, refs.get(a['uuid'], []), req.app.profile, blob_instances=instances,
                                top_instances=True, default_max_versions=default) for a in arts]


# --- one artifact -----------------------------------------------------------------------------------------------
@route('GET', '/artifacts/<artifact_ref>')
def get_one(req: Request, artifact_ref: str, namespace: Any = None) -> dict[str, Any]:
    art = _readable(req, artifact_ref, namespace)
    with req.db.read() as tx:
        return model.full_view(tx, model.get_artifact(tx, art['uuid']), req.app.profile)


@route('DELETE', '/artifacts/<artifact_ref>')
def delete_one(req: Request, artifact_ref: str, namespace: Any = None) -> dict[str, Any] | None:
    with req.db.write() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))
        if art['state'] == 'deleted':
            return None
        model.delete_artifact(tx, art['uuid'])
        return model.full_view(tx, model.get_artifact(tx, art['uuid']), req.app.profile)


@route('DELETE', '/artifacts')
def delete_all(req: Request, confirm: Any = False, namespace: Any = None) -> list[str]:
    if confirm is not True:
        raise bad_request('parameter confirm is not set true')
    if req.is_admin:
        if not isinstance(namespace, str):
            raise bad_request('system user must specify parameter namespace')
    elif namespace is None:
        namespace = req.namespace
    elif namespace != req.namespace:
        raise unauthorized('you cannot delete other namespaces')
    with req.db.write() as tx:
        if get_namespace(tx, namespace) is None:
            raise not_found('namespace not found')
        marks = ','.join('?' * len(model.ACTIVE))
        rows = tx.all(f'SELECT uuid FROM artifacts WHERE namespace = ? AND state IN ({marks}) '  # noqa: S608
                      'ORDER BY created', (namespace, *model.ACTIVE))
        for row in rows:
            model.delete_artifact(tx, row['uuid'])
    return [r['uuid'] for r in rows]


# --- versions ---------------------------------------------------------------------------------------------------
@route('GET', '/artifacts/<artifact_ref>/versions')
def get_versions(req: Request, artifact_ref: str, namespace: Any = None) -> list[dict[str, Any]]:
    art = _readable(req, artifact_ref, namespace)
    with req.db.read() as tx:
        result = []
        for ref in model.versions(tx, art['uuid']):
            view = blob_view(tx, get_blob(tx, ref['blob_uuid']), req.app.profile, show_locations=req.is_admin,
                             node=req.config['node_name'])
            view['index'] = int(ref['value'])
            result.append(view)
        return result


@route('POST', '/artifacts/<artifact_ref>/versions')
def set_max_versions(req: Request, artifact_ref: str, max_versions: Any = None, namespace: Any = None) -> None:
    value = max_versions_rules.for_existing_artifact(req.app.profile, max_versions)
    with req.db.write() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))
        tx.execute('UPDATE artifacts SET max_versions = ? WHERE uuid = ?', (value, art['uuid']))
        add_event(tx, 'artifact', art['uuid'], 'max versions set', extra={'max_versions': value})
        model.trim_versions(tx, req.config, art['uuid'])


@route('DELETE', '/artifacts/<artifact_ref>/versions/<version_id>')
def delete_version(req: Request, artifact_ref: str, version_id: Any, namespace: Any = None) -> dict[str, Any]:
    try:
        index = int(version_id)
    except (TypeError, ValueError):
        raise bad_request('version index is not an integer') from None
    with req.db.write() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))
        model.delete_version(tx, art['uuid'], index)
        return model.full_view(tx, model.get_artifact(tx, art['uuid']), req.app.profile)


# --- sharing ----------------------------------------------------------------------------------------------------
@route('POST', '/artifacts/<artifact_ref>/share')
def share(req: Request, artifact_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.write() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))
        if art['namespace'] != SYSTEM:
            raise forbidden('only artifacts in the system namespace can be shared')
        if not art['shared']:
            tx.execute('UPDATE artifacts SET shared = 1 WHERE uuid = ?', (art['uuid'],))
            add_event(tx, 'artifact', art['uuid'], 'artifact shared')
        return model.full_view(tx, model.get_artifact(tx, art['uuid']), req.app.profile)


@route('POST', '/artifacts/<artifact_ref>/unshare')
def unshare(req: Request, artifact_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.write() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))
        if not art['shared']:
            raise forbidden('artifact not shared')
        tx.execute('UPDATE artifacts SET shared = 0 WHERE uuid = ?', (art['uuid'],))
        add_event(tx, 'artifact', art['uuid'], 'artifact unshared')
        return model.full_view(tx, model.get_artifact(tx, art['uuid']), req.app.profile)


# --- events, cluster operations, metadata -----------------------------------------------------------------------
@route('GET', '/artifacts/<artifact_ref>/events')
def get_events(
    req: Request, artifact_ref: str, event_type: Any = None, limit: Any = None, namespace: Any = None
) -> list[dict[str, Any]]:
    art = _readable(req, artifact_ref, namespace)
    with req.db.read() as tx:
        return list_events(tx, req.app.profile, 'artifact', art['uuid'], event_type, limit)


@route('GET', '/artifacts/<artifact_ref>/clusteroperations')
def get_cluster_operations(
    req: Request, artifact_ref: str, all: Any = False, namespace: Any = None  # noqa: A002 - API parameter name
) -> list[dict[str, Any]]:
    include_all = _flag(all, 'all')
    with req.db.read() as tx:
        art = model.resolve(tx, req.namespace, artifact_ref, namespace, widen=_widens(req))
        return HOOKS.cluster_ops.list_for_target(tx, 'artifact', art['uuid'], include_all)


def _owned_artifact(req: Request, tx: Tx, artifact_ref: str, namespace: Any = None) -> str:
    """Metadata routes need ownership, even to read (write=True)."""
    return model.resolve(tx, req.namespace, artifact_ref, namespace, write=True, widen=_widens(req))['uuid']


metadata_routes('/artifacts/<artifact_ref>', 'artifacts', _owned_artifact, extra=('namespace',))


# --- creating versions from uploads or blobs --------------------------------------------------------------------
@route('POST', '/artifacts/upload/<artifact_name>')
def convert_upload(
    req: Request,
    artifact_name: str,
    upload_uuid: Any = None,
    blob_uuid: Any = None,
    source_url: Any = None,
    shared: Any = False,
    namespace: Any = None,
    artifact_type: Any = 'image',
) -> dict[str, Any]:
    if upload_uuid and blob_uuid:
        raise bad_request('only specify one of upload_uuid and blob_uuid')
    if not upload_uuid and not blob_uuid:
        raise bad_request('specify one of upload_uuid and blob_uuid')
    if artifact_type is None:
        artifact_type = 'image'
    if artifact_type not in ('image', 'other'):
        raise forbidden('invalid artifact type specified')
    make_shared = _flag(shared, 'shared')
    if make_shared and not req.is_admin:
        raise forbidden('only the system namespace can create shared artifacts')
    if source_url is None:
        source_url = f'sf://upload/{req.namespace}/{artifact_name}'
    if not isinstance(source_url, str):
        raise bad_request('source_url must be a string')
    # Check everything before changing anything, so a refusal leaves nothing behind (see README).
    with req.db.read() as tx:
        target = _target_namespace(tx, req.namespace, namespace)
        existing = model.find_owned_by_url(tx, target, artifact_type, source_url)
        if existing is not None and req.namespace not in (SYSTEM, target):
            raise not_found('namespace not found')
        if blob_uuid:
            row = get_blob(tx, str(blob_uuid))
            if row is None or row['state'] != 'created':
                raise not_found('blob not found')
        elif tx.one('SELECT 1 FROM uploads WHERE uuid = ?', (str(upload_uuid),)) is None:
            raise not_found('upload not found')

    def finish(tx: Tx, use_blob: str, fresh: bool) -> dict[str, Any]:
        art_uuid, _ = model.owned_or_new(tx, req.namespace, target, artifact_type, source_url, artifact_name)
        if make_shared:
            tx.execute('UPDATE artifacts SET shared = 1 WHERE uuid = ?', (art_uuid,))
        added = model.add_version(tx, req.config, art_uuid, use_blob)
        if fresh and not added:
            release_if_unused(tx, use_blob)  # the same bytes as the newest version: nothing keeps this blob
        tx.execute("UPDATE artifacts SET state = 'created', error_message = NULL WHERE uuid = ?", (art_uuid,))
        return model.full_view(tx, model.get_artifact(tx, art_uuid), req.app.profile)

    def leave(tx: Tx) -> None:  # what 0.7.2 made before qemu-img refused the bytes
        art_uuid, _ = model.owned_or_new(tx, req.namespace, target, artifact_type, source_url, artifact_name)
        if make_shared:
            tx.execute('UPDATE artifacts SET shared = 1 WHERE uuid = ?', (art_uuid,))

    if upload_uuid:
        new_blob = str(uuid.uuid4())
        check = ImageCheck(open_error, leave) if req.app.profile.convert_checks_qcow2_header else None
        try:
            return convert_to_blob(req.app, str(upload_uuid), new_blob, lambda tx: finish(tx, new_blob, True), check)
        except ImageRefused as refused:
            raise ApiError(500, qemu_img_failure(refused)) from None
    with req.db.write() as tx:
        return finish(tx, str(blob_uuid), False)


def qemu_img_failure(refused: ImageRefused) -> str:
    """0.7.2's 500 when `qemu-img info` exits 1: the repr of oslo's ProcessExecutionError(stdout, stderr, exit
    code, command, description)."""
    command = f'qemu-img info --force-share {refused.path}'
    stderr = f"qemu-img: Could not open '{refused.path}': {refused.problem}\n"
    return f'server error: ProcessExecutionError{("", stderr, 1, command, None)!r}'


# --- caching from a URL (the fetch itself is in jobs/fetch.py) --------------------------------------------------
@route('POST', '/artifacts')
def cache_url(req: Request, url: Any = None, shared: Any = False, namespace: Any = None) -> dict[str, Any]:
    if not url or not isinstance(url, str):
        raise bad_request('no url specified')
    try:
        check_url(req.config, url)  # before anything is created: only http(s) is ever fetched
    except FetchError as exc:
        raise bad_request(str(exc)) from None
    make_shared = _flag(shared, 'shared')
    if make_shared and not req.is_admin:
        raise forbidden('only the system namespace can create shared artifacts')
    with req.db.write() as tx:
        target = _target_namespace(tx, req.namespace, namespace)
        name = url.rstrip('/').split('/')[-1] or url
        art_uuid, _ = model.owned_or_new(tx, req.namespace, target, 'image', url, name)
        if make_shared:
            tx.execute('UPDATE artifacts SET shared = 1 WHERE uuid = ?', (art_uuid,))
        queue_fetch(tx, req.config, art_uuid, url, target)
        return model.full_view(tx, model.get_artifact(tx, art_uuid), req.app.profile)
