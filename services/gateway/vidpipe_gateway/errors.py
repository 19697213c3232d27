"""Every error leaves the gateway as JSON `{"code": ..., "message": ...}` with a stable code."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException

from vidpipe_gateway.schemas import ErrorBody

log = structlog.get_logger("vidpipe.gateway")


class ApiError(HTTPException):
    """An error a client can act on; `code` is part of the API contract."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)
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
}


def _body(status: int, code: str, message: str) -> Response[ErrorBody]:
    return Response(ErrorBody(code=code, message=message), status_code=status)


def http_error_handler(_: Request[Any, Any, Any], error: HTTPException) -> Response[ErrorBody]:
    if isinstance(error, ApiError):
        return _body(error.status_code, error.code, error.detail)
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
    log.error("unhandled_error", error=repr(error), exc_info=error)
    return _body(500, "internal_error", "the server failed; the error was logged")
