"""The request-id middleware of the gateway and the worker (pure ASGI: cheap on the hot path).

Every request gets an id: the caller's ``X-Request-ID`` when it is sane (1 to 128 characters of
``A-Za-z0-9._:-``), else a new one. The id is returned in ``X-Request-ID``, kept in
``scope["state"]["request_id"]`` (``request.state.request_id``) and in
:data:`routet2i.logs.REQUEST_ID` while the request is served, so every log line written meanwhile
carries it (and the worker client forwards it: one id follows a request from the gateway to the
worker). One access-log line per request (``method``, ``path``, ``status``, ``duration_ms``; at debug
level for the probes of :data:`PROBE_PATHS`).

An exception no handler turned into a response is answered here with a JSON 500 (logged with its
trace), not by Starlette's outermost error middleware: that one runs outside this middleware, so
its 500 would lack the id, and it re-raises, and uvicorn may then close the connection without
an answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routet2i.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"

_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_valid_request_id(value: str) -> bool:
    """Whether ``value`` is kept as a request id (else the middleware makes a new one)."""
    return _VALID_ID.match(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` of an HTTP ``scope`` when it is sane, else a new id."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            candidate = value.decode("latin-1")
            return candidate if is_valid_request_id(candidate) else new_request_id()
    return new_request_id()


#: Paths that orchestrators and Prometheus call every few seconds; their access lines are debug-level.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestIdMiddleware:
    """Request id, access log and last-resort 500 (see the module docstring).

    ``access_logger``: the logger of the access lines; ``error_logger``: the logger of an
    unhandled exception. Subclasses add to the access line or count the request by overriding
    :meth:`started` and :meth:`finished`, and shape the 500 by :meth:`internal_error_body`.
    """

    def __init__(self, app: ASGIApp, *, access_logger: str = "routet2i.access", error_logger: str = "routet2i") -> None:
        self.app = app
        self.access_log = logging.getLogger(access_logger)
        self.error_log = logging.getLogger(error_logger)

    # -- hooks -------------------------------------------------------------------------------

    def started(self, scope: Scope, request_id: str) -> None:
        """Called before the request is handed on (``scope["state"]`` exists)."""

    def finished(self, scope: Scope, status: int) -> dict[str, Any]:
        """Called once the request is answered (or failed); returns extra access-log fields."""
        return {}

    def internal_error_body(self, scope: Scope, request_id: str) -> dict[str, Any]:
        """The JSON body of the 500 answered for an unhandled exception."""
        return {"error": {"type": "internal_error", "message": "internal error", "request_id": request_id}}

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        header = (_HEADER_KEY, rid.encode("latin-1"))
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)
        t0 = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            self.started(scope, rid)
            await self.app(scope, receive, send_with_id)
        except Exception:
            if started:  # too late for another answer
                raise
            self.error_log.exception(
                "unhandled error",
                extra={"request_id": rid, "method": scope.get("method"), "path": scope.get("path")},
            )
            await _send_json(send_with_id, 500, self.internal_error_body(scope, rid))
        finally:
            try:
                fields: dict[str, Any] = {
                    "request_id": rid,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - t0) * 1000.0, 3),
                    **self.finished(scope, status),
                }
                # health checks and scrapes arrive every few seconds: logged only at debug level
                level = logging.DEBUG if scope.get("path") in PROBE_PATHS else logging.INFO
                self.access_log.log(level, "%s %s %s", fields["method"], fields["path"], status, extra=fields)
            finally:
                REQUEST_ID.reset(token)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
