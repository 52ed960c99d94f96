"""Errors a handler raises to answer in the server's `{"error": ..., "status": ...}` shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success; `message` may be any JSON value (the server sometimes sends objects)."""

    def __init__(self, status: int, message: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {'error': self.message, 'status': self.status}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized(message: str = 'unauthorized') -> ApiError:
    return ApiError(401, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def not_ready(message: str) -> ApiError:
    return ApiError(406, message)
