"""`/blobs...` and `/blob_checksums...`: blobs have no owner; any authenticated caller may read one."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.errors import ApiError, bad_request, not_found
from sf_emulator.http.body import DropConnection
from sf_emulator.http.responses import FileResponse
from sf_emulator.http.router import route
from sf_emulator.jobs.blob_files import queue_hash
from sf_emulator.models.blobs import ALGORITHMS, blob_path, blob_view, get_blob
from sf_emulator.models.events import list_events
from sf_emulator.routes.metadata import metadata_routes

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _view(req: Request, tx: Tx, row: Any, listing: bool = False) -> dict[str, Any]:
    return blob_view(tx, row, req.app.profile, show_locations=req.is_admin, node=req.config['node_name'],
                     listing=listing)


def _existing(tx: Tx, blob_uuid: str) -> Any:
    row = get_blob(tx, blob_uuid)
    if row is None:
        raise not_found('blob not found')
    return row


def _non_negative(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_request(f'{name} must be an integer') from None
    if number < 0:
        raise bad_request(f'{name} must not be negative')
    return number


@route('GET', '/blobs', admin=True)
def list_blobs(req: Request, node: Any = None) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        rows = tx.all("SELECT * FROM blobs WHERE state IN ('initial', 'created', 'error') ORDER BY created")
        if node and node != req.config['node_name']:
            return []
        return [_view(req, tx, r, listing=True) for r in rows]


@route('GET', '/blobs/<blob_uuid>')
def get_one(req: Request, blob_uuid: str) -> dict[str, Any]:
    with req.db.read() as tx:
        return _view(req, tx, _existing(tx, blob_uuid))


# webargs refuses a query offset that is no integer with a 422, which 0.7.2's wrapper turns into this 500.
BAD_OFFSET = "server error: <UnprocessableEntity '422: Unprocessable Entity'>"


def _streamed_offset(req: Request) -> int:
    """0.7.2's offset: from the query only (a body offset is overwritten by the query's default 0). Negative: its
    seek fails inside the stream before any header is sent, and gunicorn drops the connection unanswered."""
    try:
        start = int(req.query.get('offset', '0'))
    except ValueError:
        raise ApiError(500, BAD_OFFSET) from None
    if start < 0:
        raise DropConnection()
    return start


@route('GET', '/blobs/<blob_uuid>/data')
def get_data(req: Request, blob_uuid: str, offset: Any = 0, limit: Any = 0) -> FileResponse:
    """The bytes from `offset`, at most `limit` of them (0: all); where the profile streams (0.7.2), chunked
    `text/plain; charset=utf-8` without a length, and `limit` is not read."""
    streamed = req.app.profile.blob_data_streamed
    start = _streamed_offset(req) if streamed else _non_negative(offset, 'offset')
    most = 0 if streamed else _non_negative(limit, 'limit')
    with req.db.read() as tx:
        row = get_blob(tx, blob_uuid)
    if row is None or row['state'] != 'created':
        raise not_found('blob not found')
    path = blob_path(req.app.blob_dir, blob_uuid)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise not_found('blob missing') from None
    start = min(start, size)
    length = size - start
    if most:
        length = min(length, most)
    if streamed:
        return FileResponse(path, start, length, 'text/plain; charset=utf-8', chunked=True)
    return FileResponse(path, start, length)


@route('GET', '/blobs/<blob_uuid>/events')
def get_events(req: Request, blob_uuid: str, event_type: Any = None, limit: Any = None) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        return list_events(tx, req.app.profile, 'blob', blob_uuid, event_type, limit)


@route('GET', '/blobs/<blob_uuid>/checksum/<algorithm>')
def get_checksum(req: Request, blob_uuid: str, algorithm: str) -> str | None:
    """The hash if known; otherwise null, and a hashing job is queued (xxh128 needs a library we lack)."""
    if algorithm not in ALGORITHMS:
        raise bad_request('unknown hash algorithm')
    with req.db.write() as tx:
        row = _existing(tx, blob_uuid)
        known = tx.scalar('SELECT hash FROM blob_checksums WHERE blob_uuid = ? AND algorithm = ?',
                          (blob_uuid, algorithm))
        if known is None and algorithm in hashlib.algorithms_available and row['state'] == 'created':
            queue_hash(tx, blob_uuid, algorithm)
        return known


@route('GET', '/blob_checksums/<algorithm>/<value>')
def find_by_checksum(req: Request, algorithm: str, value: str) -> dict[str, Any] | None:
    if algorithm not in ALGORITHMS:
        raise bad_request('unknown hash algorithm')
    if not value.strip():
        raise bad_request('no hash specified')
    with req.db.read() as tx:
        row = tx.one(
            "SELECT b.* FROM blob_checksums c JOIN blobs b ON b.uuid = c.blob_uuid "
            "WHERE c.algorithm = ? AND c.hash = ? AND b.state = 'created' ORDER BY b.created DESC LIMIT 1",
            (algorithm, value.lower()),
        )
        return None if row is None else _view(req, tx, row)


def _existing_blob(req: Request, tx: Tx, blob_uuid: str) -> str:
    return str(_existing(tx, blob_uuid)['uuid'])


metadata_routes('/blobs/<blob_uuid>', 'blobs', _existing_blob)
