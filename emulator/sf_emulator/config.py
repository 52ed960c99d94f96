"""Runtime settings: defined by the modules that use them, changed by CLI flags or `POST /_emulator/config`.

Domain modules call `define()` at import time, so a new module can add its own timings without editing this file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str


_SETTINGS: dict[str, Setting] = {}


def define(name: str, default: Any, kind: type, help: str) -> None:  # noqa: A002 - mirrors argparse
    """Declare a setting (idempotent for identical re-declarations, e.g. on module reload)."""
    _SETTINGS[name] = Setting(name, default, kind, help)


def settings() -> dict[str, Setting]:
    return dict(_SETTINGS)


def coerce(setting: Setting, value: Any) -> Any:
    """Turn a CLI string or a JSON value into the setting's type, or raise ValueError with a clear message."""
    kind = setting.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ('1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'):
            return value.lower() in ('1', 'true', 'yes', 'on')
        raise ValueError(f'{setting.name} must be a boolean')
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f'{setting.name} must be a number')
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f'{setting.name} must be a number') from None
        if number < 0:
            raise ValueError(f'{setting.name} must not be negative')
        return number
    if not isinstance(value, str):
        raise ValueError(f'{setting.name} must be a string')
    return value


class Config:
    """Thread-safe current values; reads are plain attribute-style lookups through `get`/`[]`."""

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        if overrides:
            self.update(overrides)

    def __getitem__(self, name: str) -> Any:
        with self._lock:
            if name in self._values:
                return self._values[name]
        return _SETTINGS[name].default

    def get(self, name: str) -> Any:
        return self[name]

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate every value first, then apply all of them (all or nothing)."""
        checked = {}
        for name, value in values.items():
            if name not in _SETTINGS:
                raise ValueError(f'unknown setting {name!r}')
            checked[name] = coerce(_SETTINGS[name], value)
        with self._lock:
            self._values.update(checked)
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {name: self[name] for name in sorted(_SETTINGS)}


_CURRENT: list[Config] = []


def current() -> Config:
    """The running app's settings (one app per process), for code deep in models that has no request at hand."""
    return _CURRENT[-1] if _CURRENT else Config()


def make_current(config: Config) -> None:
    _CURRENT[:] = [config]


# Settings of the core; domain modules define their own next to the code that reads them.
define('token_duration', 900, int, 'seconds a bearer token from POST /auth stays valid (expires_in)')
define('op_delay', 0.2, float, 'seconds a queued background job waits before it runs')
define('fetch_delay', 0.2, float, 'extra seconds an artifact URL fetch takes before it completes')
define('fetch_timeout', 30.0, float, 'seconds before an artifact URL fetch gives up on a silent server')
define('upload_max_age', 7 * 24 * 3600.0, float, 'seconds after its last write before an upload is removed')
define('cleaner_interval', 1.0, float, 'seconds between runs of the background cleaner')
define('max_versions_default', 3, int, 'versions kept when an artifact has max_versions 0')
define('image_base_url', 'https://images.shakenfist.com/', str, 'base URL for centos/debian/fedora/rocky/ubuntu')
define('cirros_base_url', 'https://download.cirros-cloud.net/', str, 'base URL for cirros images')
define('node_name', 'localhost', str, 'node name reported in uploads, blob locations and events')
define('workers', 4, int, 'background worker threads (read at start only)')
