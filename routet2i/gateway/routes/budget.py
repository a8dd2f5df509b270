"""``GET /v1/budget`` (the budget's state) and ``PUT /v1/budget`` (an operator's adjustment,
authenticated with the admin key; takes effect for the next request)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.routes.common import DispatcherDep, require_admin, require_client
from routet2i.gateway.schemas import BudgetUpdate
from routet2i.http_rules import JsonBodyRoute
from routet2i.routing.dispatcher import Dispatcher

log = logging.getLogger("routet2i.gateway.budget")


async def budget_view(dispatcher: Dispatcher) -> dict[str, Any]:
    state = await dispatcher.budget_state()
    return {
        **state.as_dict(),
        "reasons": await dispatcher.budget_reasons(),
        "prices": dispatcher.prices(),
        "shadow": dispatcher.shadower.snapshot(),
    }


def build_router() -> APIRouter:
    router = APIRouter(tags=["budget"], route_class=JsonBodyRoute)

    @router.get("/v1/budget", dependencies=[Depends(require_client)])
    async def get_budget(dispatcher: DispatcherDep) -> dict[str, Any]:
        return await budget_view(dispatcher)

    @router.put("/v1/budget", dependencies=[Depends(require_admin)])
    async def put_budget(body: BudgetUpdate, dispatcher: DispatcherDep) -> dict[str, Any]:
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if not changes:
            raise InvalidField(f"nothing to change: give {', '.join(BudgetUpdate.model_fields)}", field="body")
        try:
            await dispatcher.update_budget(**changes)
        except ValueError as exc:
            field = next((n for n in changes if n in str(exc)), "body")
            raise InvalidField(str(exc), field=field) from None
        log.warning("budget changed by the operator", extra={"changes": changes})
        return await budget_view(dispatcher)

    return router
