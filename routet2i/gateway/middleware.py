"""The gateway's request middleware (pure ASGI, cheap on the hot path): the shared request-id
middleware (:mod:`routet2i.request_id`: id, access log, last-resort 500) plus the gateway's
request counter and routing fields."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Scope

from routet2i.gateway.errors import error_body
from routet2i.gateway.metrics import GatewayMetrics
from routet2i.request_id import RequestIdMiddleware

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


class RequestContextMiddleware(RequestIdMiddleware):
    """Gives every request an id (the client's ``X-Request-ID`` when it is sane, else a new one),
    returns it in ``X-Request-ID``, counts it in ``requests_total{endpoint,tier,status}``, and
    writes one access-log line (``routet2i.gateway.access``) with the routing fields the handler
    left in ``request.state.log`` (the prompt only when configured)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics | None = None) -> None:
        super().__init__(app, access_logger="routet2i.gateway.access", error_logger="routet2i.gateway")
        self.metrics = metrics

    def started(self, scope: Scope, request_id: str) -> None:
        scope["state"]["log"] = {}

    def finished(self, scope: Scope, status: int) -> dict[str, Any]:
        routing: dict[str, Any] = scope["state"].get("log", {})
        if self.metrics is not None:
            endpoint = ENDPOINTS.get(scope.get("path", ""), "other")
            self.metrics.requests.labels(endpoint, str(routing.get("tier", "none")), str(status)).inc()
        return routing

    def internal_error_body(self, scope: Scope, request_id: str) -> dict[str, Any]:
        return error_body("internal_error", _INTERNAL, request_id=request_id)


_INTERNAL = "internal error; quote the request id when reporting it"
