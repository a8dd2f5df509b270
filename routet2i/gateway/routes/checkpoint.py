"""The live router checkpoint: ``GET /v1/router`` (which one serves, since when) and
``POST /v1/admin/reload`` (an operator's hot reload, authenticated with the admin key; see
:mod:`routet2i.gateway.reload`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from routet2i.gateway.errors import Forbidden
from routet2i.gateway.routes.common import DispatcherDep, require_client
from routet2i.gateway.security import KeyRing, check_admin
from routet2i.http_rules import JsonBodyRoute
from routet2i.routing.reload import RouterReloader


class ReloadBody(BaseModel):
    """``POST /v1/admin/reload``."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        json_schema_extra={"pattern": "^[^\u0000]*$"},  # the NUL rule below, stated
        description="Checkpoint folder on the gateway's machine (relative: to its working directory); "
        "default: the live checkpoint's folder, read again.",
    )

    @field_validator("checkpoint")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("a path cannot contain NUL characters")
        return value


async def require_operator(request: Request) -> None:
    """The admin key (``security.admin_key``); 403 when none is configured."""
    ring: KeyRing = request.app.state.admin_keys
    if not ring.enabled:
        raise Forbidden("router reloads over HTTP are disabled: configure security.admin_key (SIGHUP still reloads)")
    check_admin(request, ring)


def build_router() -> APIRouter:
    router = APIRouter(tags=["router"], route_class=JsonBodyRoute)

    @router.get("/v1/router", dependencies=[Depends(require_client)])
    async def live_router(request: Request, dispatcher: DispatcherDep) -> dict[str, Any]:
        reloader: RouterReloader = request.app.state.reloader
        return {**dispatcher.describe_router(), "reloads": reloader.status()}

    @router.post("/v1/admin/reload", dependencies=[Depends(require_operator)])
    async def reload(request: Request, body: ReloadBody | None = None) -> dict[str, Any]:
        reloader: RouterReloader = request.app.state.reloader
        checkpoint = None if body is None else body.checkpoint
        live = await reloader.reload(checkpoint, source="admin", field="checkpoint")
        return {**live, "reloads": reloader.status()}

    return router
