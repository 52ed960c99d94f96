"""`/upload...`: create an upload, append bytes to it, truncate it (the design is in models/uploads.py)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.errors import bad_request, not_found
from sf_emulator.http.router import route
from sf_emulator.models.upload_stream import append_body
from sf_emulator.models.uploads import check_open, current_hasher, file_size, state, upload_path

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _upload_view(req: Request, row: Any) -> dict[str, Any]:
    return req.app.profile.view('upload', {
        'uuid': row['uuid'],
        'state': 'created',
        'metadata': {},
        'version': 5,
        'node': req.config['node_name'],
        'created_at': row['created_at'],
    })


def _existing(req: Request, upload_uuid: str) -> Any:
    with req.db.read() as tx:
        row = tx.one('SELECT * FROM uploads WHERE uuid = ?', (upload_uuid,))
    if row is None:
        raise not_found('upload not found')
    return row


@route('POST', '/upload')
def create(req: Request) -> dict[str, Any]:
    upload_uuid = str(uuid.uuid4())
    now = time.time()
    with req.db.write() as tx:
        tx.execute('INSERT INTO uploads (uuid, created_at, last_write, size) VALUES (?, ?, ?, 0)',
                   (upload_uuid, now, now))
        row = tx.one('SELECT * FROM uploads WHERE uuid = ?', (upload_uuid,))
    return _upload_view(req, row)


@route('POST', '/upload/<upload_uuid>', raw_body=True)
def append(req: Request, upload_uuid: str) -> int:
    """Append the raw body; answer the upload's total size."""
    _existing(req, upload_uuid)
    path = upload_path(req.app, upload_uuid)
    running = state(req.app).get(upload_uuid)
    assert req.body is not None
    with running.lock:
        check_open(req.app, upload_uuid, running)
        hasher = current_hasher(running, path)
        try:
            append_body(path, req.body, hasher)
        except BaseException:
            if file_size(path) != hasher.size:  # a short write: rebuild from the file next time
                hasher.close()
                running.hasher = None
            raise
        finally:
            size = file_size(path)
            with req.db.write() as tx:
                tx.execute('UPDATE uploads SET size = ?, last_write = ? WHERE uuid = ?',
                           (size, time.time(), upload_uuid))
    return size


@route('POST', '/upload/<upload_uuid>/truncate/<int:offset>')
def truncate(req: Request, upload_uuid: str, offset: int) -> None:
    if offset < 0:  # the path routes digits only, but a body key `offset` overrides the path value
        raise bad_request('offset must not be negative')
    _existing(req, upload_uuid)
    path = upload_path(req.app, upload_uuid)
    running = state(req.app).get(upload_uuid)
    with running.lock:
        check_open(req.app, upload_uuid, running)
        size = path.stat().st_size if path.exists() else 0
        if size == 0:
            if offset > 0:
                raise not_found('upload has no data')
            return None
        if offset > size:
            raise bad_request('offset is beyond the end of the upload')
        with open(path, 'r+b') as handle:
            handle.truncate(offset)
        if running.hasher is not None:
            running.hasher.close()
            running.hasher = None  # rebuilt from the file by the next append or the convert
        with req.db.write() as tx:
            tx.execute('UPDATE uploads SET size = ?, last_write = ? WHERE uuid = ?', (offset, time.time(), upload_uuid))
    return None
