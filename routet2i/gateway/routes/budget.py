"""``GET /v1/budget`` (the budget's state) and ``PUT /v1/budget`` (an operator's adjustment,
authenticated with the admin key; takes effect for the next request)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.routes.common import ServiceDep, require_admin, require_client
from routet2i.gateway.schemas import BudgetUpdate
from routet2i.gateway.service import GatewayService

log = logging.getLogger("routet2i.gateway.budget")

_NOT_NULL = ("period_s", "window", "warmup")


def budget_view(service: GatewayService) -> dict[str, Any]:
    state = service.budget_state()
    tiers = service.settings.tiers
    return {
        **state.as_dict(),
        "reasons": service.budget.reasons(),
        "prices": {"edge": tiers.edge.price.model_dump(), "cloud": tiers.cloud.price.model_dump()},
    }


def build_router() -> APIRouter:
    router = APIRouter(tags=["budget"])

    @router.get("/v1/budget", dependencies=[Depends(require_client)])
    async def get_budget(service: ServiceDep) -> dict[str, Any]:
        return budget_view(service)

    @router.put("/v1/budget", dependencies=[Depends(require_admin)])
    async def put_budget(body: BudgetUpdate, service: ServiceDep) -> dict[str, Any]:
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        for name in _NOT_NULL:
            if name in changes and changes[name] is None:
                raise InvalidField(f"{name} cannot be null", field=name)
        if not changes:
            raise InvalidField("nothing to change: give cloud_share, money_per_period, period_s, window or warmup", field="body")
        try:
            service.budget.update_policy(**changes)
        except ValueError as exc:
            field = next((n for n in changes if n in str(exc)), "body")
            raise InvalidField(str(exc), field=field) from None
        log.warning("budget changed by the operator", extra={"changes": changes})
        return budget_view(service)

    return router
