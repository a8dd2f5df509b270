"""Pure ASGI middleware (cheap on the hot path): request ids + access log, and the body limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routet2i.gateway.errors import error_body
from routet2i.gateway.logs import REQUEST_ID
from routet2i.gateway.metrics import GatewayMetrics

access_log = logging.getLogger("routet2i.gateway.access")
log = logging.getLogger("routet2i.gateway")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


#: Paths counted under their own name in the request metrics (anything else is ``other``).
ENDPOINTS = {
    "/generate": "generate",
    "/v1/images/generations": "images_generations",
    "/v1/route": "route",
    "/v1/budget": "budget",
    "/v1/models": "models",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
}


class RequestContextMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` when it is sane, else a new one),
    returns it in ``X-Request-ID``, counts it in ``requests_total{endpoint,tier,status}``, and
    writes one access-log line with the routing fields the handler left in
    ``request.state.log`` (the prompt only when configured)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _VALID_ID.match(candidate) else None
                break
        rid = rid or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["log"] = {}
        token = REQUEST_ID.set(rid)
        t0 = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug, not a client's mistake. Answered here (not by Starlette's outermost error
            # middleware) so the 500 carries X-Request-ID and is not re-raised: uvicorn closes
            # the connection under a re-raised exception, and the client may see no answer.
            if started:
                raise
            log.exception("unhandled error", extra={"request_id": rid})
            await _send_json(send_with_id, 500, error_body("internal_error", _INTERNAL, request_id=rid))
        finally:
            routing = state.get("log", {})
            if self.metrics is not None:
                endpoint = ENDPOINTS.get(scope.get("path", ""), "other")
                self.metrics.requests.labels(endpoint, str(routing.get("tier", "none")), str(status)).inc()
            fields: dict[str, Any] = {
                "request_id": rid,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - t0) * 1000.0, 3),
                **routing,
            }
            access_log.info("%s %s %s", fields["method"], fields["path"], status, extra=fields)
            REQUEST_ID.reset(token)


_INTERNAL = "internal error; quote the request id when reporting it"


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
