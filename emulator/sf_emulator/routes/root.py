"""`GET /` (capability strings, what the official client probes) and the health checks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sf_emulator.http.responses import RawResponse
from sf_emulator.http.router import route

if TYPE_CHECKING:
    from sf_emulator.http.request import Request
    from sf_emulator.profiles import ServerProfile


def root_page(profile: ServerProfile) -> bytes:
    """The page of `GET /` as the profile's release lays it out (the official client does a substring test)."""
    items = profile.root_page_item_separator.join(
        profile.root_page_item.format(group=html.escape(group), names=html.escape(', '.join(names)))
        for group, names in profile.capabilities.items()
    )
    return profile.root_page.format(items=items).encode('utf-8')


@route('GET', '/', public=True)
def get_root(req: Request) -> RawResponse:
    return RawResponse(root_page(req.app.profile), 'text/html; charset=utf-8')


@route('GET', '/livez', public=True, health_check=True)
def get_livez(req: Request) -> RawResponse:
    return RawResponse(b'ok')


def _ready(req: Request) -> RawResponse:
    try:
        with req.db.read() as tx:
            tx.scalar('SELECT 1')
    except Exception:
        return RawResponse(b'not ready', status=503)
    return RawResponse(b'ready')


@route('GET', '/readyz', public=True, health_check=True)
def get_readyz(req: Request) -> RawResponse:
    return _ready(req)


@route('GET', '/healthz', public=True, health_check=True)
def get_healthz(req: Request) -> RawResponse:
    return _ready(req)
