"""What a route handler receives as `req`: the parsed request, its caller once authenticated, and the app."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sf_emulator.config import Config
    from sf_emulator.db import Database
    from sf_emulator.http.body import BodyReader
    from sf_emulator.runtime import Runtime


class Request:
    """Everything a handler may need about the request being answered; the running emulator is `req.app`."""

    def __init__(self, app: Runtime, method: str, path: str, query: dict[str, str], headers: Any) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.request_id = str(uuid.uuid4())
        self.namespace: str | None = None  # the caller's namespace once authenticated
        self.key_name: str | None = None
        self.body: BodyReader | None = None
        self.cut: tuple[int, float] | None = None  # an injected `cut` fault: (body bytes to send, seconds to wait)

    @property
    def is_admin(self) -> bool:
        return self.namespace == 'system'

    @property
    def db(self) -> Database:
        return self.app.db

    @property
    def config(self) -> Config:
        return self.app.config
