"""Emulator-only routes under `/_emulator/` (system key only; the real API has none of these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator import config as config_module
from sf_emulator.errors import bad_request
from sf_emulator.http.router import ROUTER, route
from sf_emulator.jobs.queue import job_kinds

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'{name} must be an integer') from None


@route('GET', '/_emulator/requests', emulator_only=True)
def list_requests(req: Request, since: Any = 0) -> list[dict[str, Any]]:
    return req.app.request_log.since(_int(since, 'since'))


@route('DELETE', '/_emulator/requests', emulator_only=True)
def clear_requests(req: Request) -> None:
    req.app.request_log.clear()


@route('GET', '/_emulator/faults', emulator_only=True)
def list_faults(req: Request) -> list[dict[str, Any]]:
    return req.app.faults.list()


@route('POST', '/_emulator/faults', emulator_only=True)
def add_fault(req: Request, **spec: Any) -> dict[str, Any]:
    try:
        return req.app.faults.add(spec)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


@route('DELETE', '/_emulator/faults', emulator_only=True)
def clear_faults(req: Request) -> None:
    req.app.faults.clear()


@route('GET', '/_emulator/config', emulator_only=True)
def get_config(req: Request) -> dict[str, Any]:
    return req.app.config.snapshot()


@route('POST', '/_emulator/config', emulator_only=True)
def set_config(req: Request, **values: Any) -> dict[str, Any]:
    try:
        return req.app.config.update(values)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


@route('GET', '/_emulator/info', emulator_only=True)
def get_info(req: Request) -> dict[str, Any]:
    return {
        'data_dir': str(req.app.data_dir),
        'server_profile': req.app.profile.name,
        'settings': {name: s.help for name, s in config_module.settings().items()},
        'job_kinds': job_kinds(),
        'routes': [f'{r.method} {r.pattern}' for r in ROUTER.routes],
    }
