"""The running emulator as the HTTP layer, route handlers and background jobs see it.

`app.App` is the one implementation. Code below the app (the server, handlers through `req.app`, jobs through their
`app` argument) names this protocol instead of `App`, so it never imports the module that imports it. Whatever
varies from one run to another hangs off this object (settings, the server profile), so every handler reaches it as
`req.app`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sf_emulator.config import Config
    from sf_emulator.db import Database
    from sf_emulator.faults.injection import Faults
    from sf_emulator.faults.requestlog import RequestLog
    from sf_emulator.profiles import ServerProfile


class Runtime(Protocol):
    data_dir: Path
    blob_dir: Path
    upload_dir: Path
    tmp_dir: Path
    config: Config
    profile: ServerProfile  # the server release the API answers as (--server-profile), fixed at start
    db: Database
    faults: Faults
    request_log: RequestLog
    jwt_secret: bytes
    admin_routes: bool  # False: no /_emulator/ routes at all (--no-admin-routes)
    verbose: bool

    def authenticate(self, req: Any) -> None:
        """Set the caller of a request (`req.namespace`) from its bearer token, or raise a 401."""

    def module_state(self, name: str, factory: Callable[[], Any]) -> Any:
        """In-memory state of one module (e.g. running upload hashes), made by `factory` on first use."""
