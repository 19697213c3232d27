"""Every error leaves the gateway as JSON `{"code": ..., "message": ...}` with a stable code."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    TooManyRequestsException,
    ValidationException,
)

from vidpipe_gateway.redaction import redact
from vidpipe_gateway.schemas import ErrorBody

log = structlog.get_logger("vidpipe.gateway")


class ApiError(HTTPException):
    """An error a client can act on; `code` is part of the API contract."""

    def __init__(self, status_code: int, code: str, message: str, *, retry_after_s: int | None = None) -> None:
        headers = {"Retry-After": str(max(1, retry_after_s))} if retry_after_s is not None else None
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def not_found(what: str) -> ApiError:
    # Others' media and tasks read as missing too: 404, never 403, so ids cannot be probed.
    return ApiError(404, "not_found", f"{what} not found")


_DEFAULT_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _body(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    return Response(ErrorBody(code=code, message=message), status_code=status, headers=headers)


def http_error_handler(_: Request[Any, Any, Any], error: HTTPException) -> Response[ErrorBody]:
    if isinstance(error, ApiError):
        return _body(error.status_code, error.code, error.detail, error.headers)
    if isinstance(error, TooManyRequestsException):
        # Litestar's rate limiter says when the window resets; clients and proxies read Retry-After.
        headers = dict(error.headers or {})
        headers["Retry-After"] = str(max(1, int(headers.get("RateLimit-Reset", "60"))))
        return _body(429, "rate_limited", "too many requests: slow down and retry later", headers)
    if isinstance(error, ValidationException):
        extra = error.extra if isinstance(error.extra, list) else []
        details = "; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in extra)
        return _body(400, "invalid_request", details or error.detail)
    if isinstance(error, NotAuthorizedException):
        return _body(401, "unauthorized", error.detail or "authentication required")
    if isinstance(error, NotFoundException):
        return _body(404, "not_found", "no such route or resource")
    return _body(error.status_code, _DEFAULT_CODES.get(error.status_code, "error"), error.detail)


def internal_error_handler(_: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    if isinstance(error, psycopg.DataError):
        # Input the database cannot store (a NUL byte, an out-of-range number) that slipped past validation.
        log.warning("data_error", error=redact(repr(error)))
        return _body(422, "invalid_characters", "the request holds a value that cannot be stored")
    log.error("unhandled_error", error=redact(repr(error)), exc_info=error)
    return _body(500, "internal_error", "the server failed; the error was logged")
