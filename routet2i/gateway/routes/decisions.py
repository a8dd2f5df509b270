"""``POST /v1/route``: the routing decision for one prompt or a batch; nothing is generated and
no budget is spent (the decisions are what the gateway would do right now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.routes.common import ServiceDep, require_client
from routet2i.gateway.schemas import RouteBody, RouteDecisionOut, RouteResult
from routet2i.gateway.validation import check_prompt


def build_router() -> APIRouter:
    router = APIRouter(tags=["route"])

    @router.post("/v1/route", response_model=RouteResult, dependencies=[Depends(require_client)])
    async def route(body: RouteBody, service: ServiceDep) -> RouteResult:
        limits = service.settings.limits
        if body.prompt is not None:
            prompts = [body.prompt]
            check_prompt(body.prompt, limits)
        else:
            prompts = list(body.prompts or [])
            if not prompts:
                raise InvalidField("prompts must not be empty", field="prompts")
            if len(prompts) > limits.max_route_batch:
                raise InvalidField(
                    f"{len(prompts)} prompts; the limit is {limits.max_route_batch} per call", field="prompts"
                )
            for i, prompt in enumerate(prompts):
                check_prompt(prompt, limits, field=f"prompts.{i}")
        routed, router_ms = await service.route(prompts)
        decisions = [
            RouteDecisionOut(
                prompt=r.prompt,
                prs=None if r.prediction is None else float(r.prediction.prs),
                metrics={} if r.prediction is None else {k: float(v) for k, v in r.prediction.metrics.items()},
                tier=r.verdict.tier,
                reason=r.verdict.reason,
                wanted_tier=r.verdict.wanted,
                threshold=r.verdict.threshold,
                threshold_source=r.verdict.threshold_source,
                cap=r.verdict.cap,
            )
            for r in routed
        ]
        return RouteResult(decisions=decisions, router_ms=round(router_ms, 3), budget=service.budget_state().as_dict())

    return router
