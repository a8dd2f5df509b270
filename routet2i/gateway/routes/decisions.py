"""``POST /v1/route``: the routing decision for one prompt or a batch; nothing is generated and
no budget is spent (the decisions are what the gateway would do right now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.routes.common import DispatcherDep, SettingsDep, require_client
from routet2i.gateway.schemas import RouteBody, RouteDecisionOut, RouteResult
from routet2i.gateway.validation import check_prompt
from routet2i.http_rules import JsonBodyRoute


def build_router() -> APIRouter:
    router = APIRouter(tags=["route"], route_class=JsonBodyRoute)

    @router.post("/v1/route", response_model=RouteResult, dependencies=[Depends(require_client)])
    async def route(body: RouteBody, dispatcher: DispatcherDep, settings: SettingsDep) -> RouteResult:
        limits = settings.limits
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
        decisions, router_ms, state = await dispatcher.route(prompts)
        return RouteResult(
            decisions=[RouteDecisionOut.of(p, d) for p, d in zip(prompts, decisions, strict=True)],
            router_ms=round(router_ms, 3),
            budget=state.as_dict(),
        )

    return router
