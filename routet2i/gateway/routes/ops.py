"""Operations: ``GET /v1/models``, ``/healthz`` (alive), ``/readyz`` (router loaded and a tier up),
``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from routet2i.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from routet2i.gateway.routes.common import DispatcherDep, SettingsDep, require_client
from routet2i.types import AUTO


def build_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/v1/models", dependencies=[Depends(require_client)])
    async def models(dispatcher: DispatcherDep) -> dict[str, Any]:
        tiers = dispatcher.describe_tiers()
        data: list[dict[str, Any]] = [
            {"id": AUTO, "object": "model", "created": 0, "owned_by": "routet2i", "description": "the router decides"}
        ]
        for tier in dispatcher.tiers:
            model = dispatcher.model_name(tier)
            for ident in (tier, model):
                data.append(
                    {"id": ident, "object": "model", "created": 0, "owned_by": "routet2i", "tier": tier, "model": model}
                )
        return {"object": "list", "data": data, "tiers": tiers, "router": dispatcher.describe_router()}

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Not ready (same body as 200)", "model": dict[str, Any]}})
    async def readyz(dispatcher: DispatcherDep) -> JSONResponse:
        """200 when the router runs and a tier takes traffic. ``out_of_rotation`` names each tier
        that does not, with its worker's own reason (its ``/readyz``: still loading, the error its
        model failed with; or why it could not be asked); ``detail`` says the same in one line."""
        ready = dispatcher.ready
        out = {tier: why for tier in dispatcher.tiers if (why := dispatcher.health.reason(tier)) is not None}
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "router": dispatcher.router_running,
            "out_of_rotation": out,
            "tiers": dispatcher.describe_tiers(),
        }
        if not ready:
            causes = [f"tier {tier}: {why}" for tier, why in out.items()]
            if not dispatcher.router_running:
                causes.insert(0, "the router is not running")
            body["detail"] = "; ".join(causes) or "no tier takes traffic yet"
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics", response_class=PlainTextResponse, responses={200: {"description": "Prometheus text format"}}
    )
    async def metrics(request: Request, dispatcher: DispatcherDep, settings: SettingsDep) -> Response:
        if settings.security.protect_metrics:
            await require_client(request)
        await dispatcher.budget_state()  # refresh the budget gauges
        registry: GatewayMetrics = request.app.state.metrics
        return Response(registry.render(), media_type=CONTENT_TYPE)

    return router
