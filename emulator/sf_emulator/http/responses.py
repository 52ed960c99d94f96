"""What handlers may return besides a plain JSON value (which means 200 with that JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Response:
    """A JSON answer with a non-default status (only 200 and 202 are successes) or extra headers."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawResponse:
    """Bytes that are not JSON (the HTML root page, health checks)."""

    data: bytes
    content_type: str = 'text/plain; charset=utf-8'
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FileResponse:
    """`length` bytes of `path` from `offset`, sent with sendfile() (blob data). `chunked`: streamed with
    `Transfer-Encoding: chunked` and no `Content-Length`, in 8 KiB chunks, as gunicorn sends 0.7.2's generator."""

    path: Path
    offset: int
    length: int
    content_type: str = 'text/plain'
    chunked: bool = False
