"""`/label/<name>` and `/label/<ns>/<name>`: label artifacts pointing at blobs (`sf://label/<ns>/<name>`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.errors import bad_request, not_found
from sf_emulator.http.router import route
from sf_emulator.models import artifacts as model
from sf_emulator.models import max_versions as max_versions_rules
from sf_emulator.models.blobs import get_blob
from sf_emulator.models.namespaces import get_namespace

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def split_label(caller: str, label_name: str) -> tuple[str | None, str]:
    """`ns/label` names a namespace; more than one '/' is refused (the server fails with a 500 here)."""
    parts = label_name.split('/')
    if len(parts) > 2 or not all(parts):
        raise bad_request('label names may contain at most one "/" (namespace/label)')
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def label_url(namespace: str, label: str) -> str:
    return f'sf://label/{namespace}/{label}'


def _find(tx: Tx, caller: str, label_name: str, *, write: bool) -> Any:
    """An active label: by its owner namespace (given or the caller's); reads widen to visible labels."""
    namespace, label = split_label(caller, label_name)
    home = namespace or caller
    row = model.find_owned_by_url(tx, home, 'label', label_url(home, label))
    allowed = (lambda r: model.can_change(r, caller)) if write else (lambda r: model.can_see(tx, r, caller))
    if row is not None and allowed(row):
        return row
    if namespace is None and not write:
        marks = ','.join('?' * len(model.ACTIVE))
        rows = tx.all(
            f"SELECT * FROM artifacts WHERE artifact_type = 'label' AND source_url LIKE ? "  # noqa: S608
            f'AND state IN ({marks}) ORDER BY created',
            (f'sf://label/%/{label}', *model.ACTIVE),
        )
        rows = [r for r in rows if r['source_url'].split('/')[4:] == [label] and model.can_see(tx, r, caller)]
        if len(rows) > 1:
            raise bad_request(f'multiple labels visible to "{caller}" have the name "{label}"')
        if rows:
            return rows[0]
    raise not_found(f'label {label_name} not found')


@route('POST', '/label/<path:label_name>')
def update(req: Request, label_name: str, blob_uuid: Any = None, max_versions: Any = None) -> dict[str, Any]:
    """Point a label at a blob. `max_versions` applies to a new label, and to an existing one where the profile
    says so; an unchecked profile answers a bad value's 400 after making the label (0.7.2 leaves it `initial`)."""
    profile = req.app.profile
    namespace, label = split_label(req.namespace, label_name)
    limit, failure = max_versions_rules.for_new_artifact(profile, max_versions)
    if not blob_uuid or not isinstance(blob_uuid, str):
        raise bad_request('no blob_uuid specified')
    target = namespace or req.namespace
    resize = max_versions is not None and not profile.label_max_versions_at_create_only
    with req.db.write() as tx:
        if get_namespace(tx, target) is None:
            raise not_found('namespace not found')
        row = get_blob(tx, blob_uuid)
        if row is None or row['state'] != 'created':
            raise not_found('blob not found')  # checked before a label is created: nothing is left behind
        art_uuid, created = model.owned_or_new(tx, req.namespace, target, 'label', label_url(target, label),
                                               label_name, max_versions=limit)
        if created and failure is not None:
            answer: dict[str, Any] | None = None  # the label stays, `initial`, once this commits
        else:
            if not created and resize:
                tx.execute('UPDATE artifacts SET max_versions = ? WHERE uuid = ?', (limit, art_uuid))
            model.add_version(tx, req.config, art_uuid, blob_uuid)
            if not created and resize:
                model.trim_versions(tx, req.config, art_uuid)
            tx.execute("UPDATE artifacts SET state = 'created', error_message = NULL WHERE uuid = ?", (art_uuid,))
            answer = model.full_view(tx, model.get_artifact(tx, art_uuid), profile, with_instances=False)
    if answer is None:
        assert failure is not None
        raise failure
    return answer


@route('GET', '/label/<path:label_name>')
def get_one(req: Request, label_name: str) -> dict[str, Any]:
    with req.db.read() as tx:
        return model.full_view(tx, _find(tx, req.namespace, label_name, write=False), req.app.profile)


@route('DELETE', '/label/<path:label_name>')
def delete(req: Request, label_name: str) -> dict[str, Any]:
    with req.db.write() as tx:
        row = _find(tx, req.namespace, label_name, write=True)
        model.delete_artifact(tx, row['uuid'])
        return model.full_view(tx, model.get_artifact(tx, row['uuid']), req.app.profile)
