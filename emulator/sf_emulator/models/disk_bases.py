"""Disk `base` resolution for `POST /instances`, exactly as docs/api.md section C.6 (newest server).

Order: noneish, `label:<name>`, `sf://snapshot/<uuid>`, `sf://upload/...`, `sf://label/...`, `sf://artifact/<uuid>`,
`sf://blob/<uuid>`, and anything else is an image URL or a well-known shorthand. A bare `centos:7` is therefore
always the upstream image, never a label called `centos:7` (issue #3271): only `label:` looks labels up.
"""

from __future__ import annotations

from typing import Any

from sf_emulator.db import Tx
from sf_emulator.errors import ApiError, not_found
from sf_emulator.models import artifacts as model
from sf_emulator.models.namespaces import trusts

LABEL_URL = 'sf://label/'
SNAPSHOT_URL = 'sf://snapshot/'
UPLOAD_URL = 'sf://upload/'
ARTIFACT_URL = 'sf://artifact/'
BLOB_URL = 'sf://blob/'


def noneish(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ('', 'none'))


def from_url(tx: Tx, artifact_type: str, url: str, namespace: str) -> Any:
    """`Artifact.from_url`: the artifact of that type and URL visible to `namespace`; ties go to its own one."""
    candidates = model.find_visible_by_url(tx, namespace, artifact_type, url)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    own = [c for c in candidates if c['namespace'] == namespace]
    if len(own) == 1:
        return own[0]
    raise ApiError(500, 'server error: TooManyMatches()')


def unusable_reason(tx: Tx, art: Any, caller: str) -> str | None:
    """`_artifact_unusable_reason`: the 404 message, or None when the caller may boot from it."""
    if art is None:
        return 'artifact not found'
    if art['state'] != 'created':
        return f'artifact not ready (state={art["state"]})'
    if trusts(tx, art['namespace'], caller) or art['shared']:
        return None
    return 'artifact not found'


def newest_blob(tx: Tx, artifact_uuid: str) -> str | None:
    current = model.versions(tx, artifact_uuid)
    return current[-1]['blob_uuid'] if current else None


def _checked_blob(tx: Tx, art: Any, caller: str, unresolved: str) -> str:
    reason = unusable_reason(tx, art, caller)
    if reason:
        raise not_found(reason)
    blob_uuid = newest_blob(tx, art['uuid'])
    if not blob_uuid:
        raise not_found(unresolved)
    return blob_uuid


def resolve_disk_base(tx: Tx, disk: dict[str, Any], caller: str, namespace: str) -> dict[str, Any]:
    """Rewrite one disk spec as the server stores it; image URLs get `_fetch` (artifact UUID) for the caller."""
    d = dict(disk)
    base = d.get('base')
    if noneish(base):
        d['disk_base'] = None
        return d
    if not isinstance(base, str):
        raise ApiError(400, 'disk base must be a string')
    if base.startswith('label:'):
        label = base[len('label:'):]
        art = from_url(tx, 'label', f'{LABEL_URL}{caller}/{label}', namespace)
        d['blob_uuid'] = _checked_blob(tx, art, caller, f'Could not resolve label {label} to a blob')
    elif base.startswith(SNAPSHOT_URL):
        art = model.get_artifact(tx, base[len(SNAPSHOT_URL):])
        d['blob_uuid'] = _checked_blob(tx, art, caller, 'Could not resolve snapshot to a blob')
    elif base.startswith((UPLOAD_URL, LABEL_URL, ARTIFACT_URL)):
        if base.startswith(UPLOAD_URL):
            art = from_url(tx, 'image', base, namespace)
        elif base.startswith(LABEL_URL):
            art = from_url(tx, 'label', base, namespace)
        else:
            art = model.get_artifact(tx, base[len(ARTIFACT_URL):])
        d['blob_uuid'] = _checked_blob(tx, art, caller, 'Could not resolve artifact to a blob')
    elif base.startswith(BLOB_URL):
        d['blob_uuid'] = base[len(BLOB_URL):]
    else:
        _resolve_image(tx, d, base, caller, namespace)
    return d


def _resolve_image(tx: Tx, d: dict[str, Any], url: str, caller: str, namespace: str) -> None:
    """An image URL or shorthand: our own artifact (refreshed), else a usable visible one, else a new fetch."""
    owned = model.find_owned_by_url(tx, namespace, 'image', url)
    if owned is not None:
        d['_fetch'] = owned['uuid']
        return
    theirs = from_url(tx, 'image', url, namespace)
    if theirs is not None and unusable_reason(tx, theirs, caller) is None:
        blob_uuid = newest_blob(tx, theirs['uuid'])
        if blob_uuid:
            d['blob_uuid'] = blob_uuid  # no download, nothing written to their artifact
            return
    name = url.rstrip('/').split('/')[-1] or url
    d['_fetch'] = model.create_artifact(tx, name=name, namespace=namespace, artifact_type='image', source_url=url)


def resolve_nvram_template(tx: Tx, template: Any, caller: str, namespace: str) -> Any:
    if not template:
        return template
    if not isinstance(template, str):
        raise ApiError(400, 'nvram_template must be a string')
    if template.startswith('label:'):
        label = template[len('label:'):]
        art = from_url(tx, 'label', f'{LABEL_URL}{caller}/{label}', namespace)
        return _checked_blob(tx, art, caller, f'Could not resolve label {label} to a blob')
    if template.startswith(BLOB_URL):
        return template[len(BLOB_URL):]
    return template
