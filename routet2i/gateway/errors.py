"""The gateway's API errors and the one place that turns every failure into a JSON error.

Body of every error (DESIGN §3), compatible with the OpenAI error shape as well::

    {"error": {"type": "invalid_request", "message": "...", "field": "width", "param": "width",
               "code": "invalid_request", "request_id": "..."},
     "routing": {...}}          # only when a routing decision had been made

A user's mistake is a 4xx naming the field; worker failures are 502/503/504 (429 when both
tiers are busy), with ``Retry-After`` where waiting helps. The routing core's errors
(:mod:`routet2i.routing.errors`) are mapped to their answers here (:func:`from_routing_error`),
with the decision as ``routing``. An unexpected exception is a 500 that reveals nothing but the
request id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from routet2i.errors import Routet2iError
from routet2i.gateway.schemas import routing_info
from routet2i.http_rules import allow_header
from routet2i.routing import errors as rerr
from routet2i.workers import errors as werr

log = logging.getLogger("routet2i.gateway")


class ApiError(Routet2iError):
    """An error answered to the client. Subclasses fix ``status`` and ``error_type``."""

    status: int = 400
    error_type: str = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        retry_after: float | None = None,
        routing: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.routing = routing
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status, error_type = 400, "invalid_request"


class InvalidField(ApiError):
    status, error_type = 422, "invalid_request"


class Unauthorized(ApiError):
    status, error_type = 401, "unauthorized"


class Forbidden(ApiError):
    status, error_type = 403, "forbidden"


class NotFound(ApiError):
    status, error_type = 404, "not_found"


class NotAcceptable(ApiError):
    status, error_type = 406, "not_acceptable"


class PayloadTooLarge(ApiError):
    status, error_type = 413, "payload_too_large"


class Overloaded(ApiError):
    status, error_type = 429, "overloaded"


class BudgetExhausted(ApiError):
    status, error_type = 429, "budget_exhausted"


class UpstreamError(ApiError):
    status, error_type = 502, "upstream_error"


class Unavailable(ApiError):
    status, error_type = 503, "unavailable"


class GatewayTimeout(ApiError):
    status, error_type = 504, "timeout"


#: The answer to each routing-core error (a TierFailed is answered as its worker error).
_ROUTING_ANSWERS: dict[type[rerr.RoutingError], tuple[int, str]] = {
    rerr.GatewayBusy: (Overloaded.status, Overloaded.error_type),
    rerr.BudgetExhausted: (BudgetExhausted.status, BudgetExhausted.error_type),
    rerr.BudgetUnavailable: (503, "budget_unavailable"),
    rerr.TierUnavailable: (Unavailable.status, Unavailable.error_type),
    rerr.DeadlinePassed: (GatewayTimeout.status, GatewayTimeout.error_type),
    rerr.CheckpointNotFound: (404, rerr.CheckpointNotFound.error_type),
    rerr.InvalidCheckpoint: (422, rerr.InvalidCheckpoint.error_type),
    rerr.ReloadInProgress: (409, rerr.ReloadInProgress.error_type),
    rerr.ReloadFailed: (500, rerr.ReloadFailed.error_type),
}


def from_routing_error(exc: rerr.RoutingError) -> ApiError:
    """The client-facing error for a routing-core error, carrying its decision as ``routing``."""
    if isinstance(exc, rerr.TierFailed):
        err = from_worker_error(exc.error, exc.tier)
        if exc.retry_after is not None:
            err.retry_after = exc.retry_after
    else:
        status, error_type = next(
            (answer for kind, answer in _ROUTING_ANSWERS.items() if isinstance(exc, kind)), (500, "internal_error")
        )
        field = exc.field if isinstance(exc, rerr.ReloadError) else None
        err = ApiError(exc.message, field=field, retry_after=exc.retry_after)
        err.status, err.error_type = status, error_type
    if exc.decision is not None:
        err.routing = routing_info(exc.decision).model_dump()
    return err


def from_worker_error(exc: werr.WorkerError, tier: str) -> ApiError:
    """The client-facing error for a worker's failure on ``tier``."""
    if isinstance(exc, werr.WorkerPayloadTooLarge):
        return PayloadTooLarge(f"the {tier} worker refused the request: {exc.message}", field=exc.field)
    if isinstance(exc, werr.WorkerBadRequest):
        return InvalidField(f"the {tier} worker refused the request: {exc.message}", field=exc.field)
    if isinstance(exc, werr.WorkerOverloaded):
        return Overloaded(f"the {tier} tier is over capacity: {exc.message}", retry_after=exc.retry_after)
    if isinstance(exc, werr.WorkerUnavailable):
        return Unavailable(f"the {tier} tier is unavailable: {exc.message}", retry_after=exc.retry_after)
    if isinstance(exc, werr.WorkerTimeout):
        return GatewayTimeout(f"the {tier} tier timed out: {exc.message}")
    return UpstreamError(f"the {tier} tier failed: {exc.message}")


def error_body(
    error_type: str,
    message: str,
    *,
    field: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    routing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message, "code": error_type}
    if field is not None:
        error["field"] = error["param"] = field
    if retry_after is not None:
        error["retry_after"] = retry_after
    if request_id is not None:
        error["request_id"] = request_id
    body: dict[str, Any] = {"error": error}
    if routing is not None:
        body["routing"] = routing
    return body


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def api_error_response(exc: ApiError, request_id: str | None) -> JSONResponse:
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    body = error_body(
        exc.error_type,
        exc.message,
        field=exc.field,
        request_id=request_id,
        retry_after=exc.retry_after,
        routing=exc.routing,
    )
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "header", "path")]
    return ".".join(parts) or "body"


async def _handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc, _request_id(request))


async def _handle_routing_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, rerr.RoutingError)
    return api_error_response(from_routing_error(exc), _request_id(request))


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return api_error_response(BadRequest("the body is not valid JSON", field="body"), _request_id(request))
    field = _field_of(first.get("loc", ()))
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif first.get("type") == "missing":
        msg = "field required"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    err = InvalidField(f"{field}: {msg}{more}", field=field)
    return api_error_response(err, _request_id(request))


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    types = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
    error_type = types.get(exc.status_code, "http_error")
    field = "body" if exc.status_code in (400, 413, 415) else None
    headers = dict(exc.headers or {})
    message = str(exc.detail)
    if exc.status_code == 405:  # every method of the path, not only the first route's
        headers.update(allow_header(request.app.router.routes, request.scope, headers.get("Allow")))
        message = f"{request.method} is not allowed on {request.url.path}; allowed: {headers.get('Allow', 'none')}"
    body = error_body(error_type, message, field=field, request_id=_request_id(request))
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _handle_worker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, werr.WorkerError)
    return api_error_response(from_worker_error(exc, "image"), _request_id(request))


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = _request_id(request)
    log.exception("unhandled error", extra={"request_id": rid})
    body = error_body("internal_error", "internal error; quote the request id when reporting it", request_id=rid)
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception the gateway can meet to a JSON error response."""
    app.add_exception_handler(ApiError, _handle_api_error)
    app.add_exception_handler(rerr.RoutingError, _handle_routing_error)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(werr.WorkerError, _handle_worker_error)
    app.add_exception_handler(Exception, _handle_unexpected)
