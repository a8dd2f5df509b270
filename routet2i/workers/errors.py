"""The worker's typed errors, shared by the worker service and its client.

One class per outcome a caller must tell apart. The worker maps each class to its HTTP status in
one place (:mod:`routet2i.workers.error_handlers`); :class:`~routet2i.workers.client.WorkerClient`
maps the status back to the same class, so the gateway catches the same exceptions whether the
failure happened in its own process or behind HTTP.

======================  ======  ======================  =========================================
class                   status  ``error.type``          meaning
======================  ======  ======================  =========================================
WorkerBadRequest        422     ``invalid_request``     the request breaks a schema rule or limit
WorkerPayloadTooLarge   413     ``payload_too_large``   the body is over ``limits.max_body_bytes``
WorkerUnauthorized      401     ``unauthorized``        no accepted key (``security.api_keys``)
WorkerOverloaded        429     ``overloaded``          queue full (or provider rate limit); retry
WorkerUnavailable       503     ``unavailable``         model not loaded / worker unreachable
WorkerTimeout           504     ``timeout``             deadline passed / provider timed out
WorkerUpstreamError     502     ``upstream_error``      the hosted provider failed or misbehaved
WorkerError             500     ``generation_error``    generation itself failed (base class)
======================  ======  ======================  =========================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from routet2i.errors import Routet2iError


class WorkerError(Routet2iError):
    """Base class: generation failed (HTTP 500). ``status_code`` is the HTTP status it maps to
    (or came from, on the client side); ``field`` names the offending request field, if any."""

    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "generation_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status if status is not None else self.status_code
        self.retry_after = retry_after

    def to_body(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": {"type", "message", "field"?, "retry_after"?}}``."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.retry_after is not None:
            error["retry_after"] = self.retry_after
        return {"error": error}


class WorkerBadRequest(WorkerError):
    """The request is invalid for this worker (schema, limits, unsupported field): HTTP 422."""

    status_code = 422
    error_type = "invalid_request"


class WorkerPayloadTooLarge(WorkerBadRequest):
    """The request body is larger than ``limits.max_body_bytes``: HTTP 413."""

    status_code = 413
    error_type = "payload_too_large"


class WorkerUnauthorized(WorkerError):
    """The request carries no accepted key (``security.api_keys``): HTTP 401."""

    status_code = 401
    error_type = "unauthorized"


class WorkerOverloaded(WorkerError):
    """The queue is full (or the hosted provider rate-limits us): HTTP 429, retry after
    ``retry_after`` seconds (also sent as the ``Retry-After`` header)."""

    status_code = 429
    error_type = "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1.0, status: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after, status=status)


class WorkerUnavailable(WorkerError):
    """The worker cannot serve now (model loading or failed, shutting down, unreachable): 503."""

    status_code = 503
    error_type = "unavailable"


class WorkerTimeout(WorkerError):
    """The request's deadline passed before its images were made, or the provider timed out: 504."""

    status_code = 504
    error_type = "timeout"


class WorkerUpstreamError(WorkerError):
    """The hosted images provider failed, refused our credentials, or answered nonsense: 502."""

    status_code = 502
    error_type = "upstream_error"


#: error.type → class, for the client's mapping of a response body back to an exception.
ERROR_TYPES: dict[str, type[WorkerError]] = {
    cls.error_type: cls
    for cls in (
        WorkerError,
        WorkerBadRequest,
        WorkerPayloadTooLarge,
        WorkerUnauthorized,
        WorkerOverloaded,
        WorkerUnavailable,
        WorkerTimeout,
        WorkerUpstreamError,
    )
}
