"""Every error the worker answers, mapped to its HTTP status and JSON body in this one place.

Body: ``{"error": {"type", "message", "field"?, "retry_after"?, "details"?}}``; a 429 or 503
with a retry hint also carries ``Retry-After`` (whole seconds). Bad input is always a 4xx naming
the field (``field`` is the request field, ``body`` for the body as a whole, or the header name);
an unexpected exception is a 500 ``internal_error`` without internals.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from routet2i.http_rules import allow_header
from routet2i.workers.errors import WorkerError

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def internal_error_body() -> dict[str, Any]:
    """The body of the 500 answered for an unexpected exception: nothing about the internals."""
    return {"error": {"type": "internal_error", "message": "internal error (see the worker log)"}}


def count_error(app: Any, error_type: str) -> None:
    """Count an answered error in the worker's metrics (``app``: the worker app)."""
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    if runtime is not None:
        runtime.metrics.error(error_type)


def _count(request: Request, error_type: str) -> None:
    count_error(request.app, error_type)


def error_response(
    status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    error: dict[str, Any] = {"type": error_type, "message": message}
    error.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "header", "path"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def handle_worker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WorkerError)
    _count(request, exc.error_type)
    headers = None
    if exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if exc.status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, exc.status, exc.error_type, exc.message)
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=headers)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    _count(request, "invalid_request")
    details = [
        {
            "field": "body" if e.get("type") == "json_invalid" else _field_of(e.get("loc", ())),
            "message": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return error_response(
        422,
        "invalid_request",
        f"field '{first['field']}': {first['message']}",
        field=first["field"],
        details=details,
    )


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = _HTTP_TYPES.get(exc.status_code, "http_error")
    _count(request, error_type)
    field = "body" if exc.status_code in (400, 413, 415) else None
    message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method of the path, not only the first route's
        headers.update(allow_header(request.app.router.routes, request.scope, headers.get("Allow")))
    return error_response(exc.status_code, error_type, message, field=field, headers=headers or None)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Last resort behind the request-id middleware (which answers an unhandled exception itself,
    see :class:`routet2i.workers.app.WorkerRequestMiddleware`)."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    _count(request, "internal_error")
    return JSONResponse(internal_error_body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app`` (the single place errors become responses)."""
    app.add_exception_handler(WorkerError, handle_worker_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
