"""What the route modules share: dependencies, the decision headers, content negotiation."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import Depends
from starlette.requests import Request

from routet2i.gateway.errors import ApiError, Forbidden, InvalidField, from_routing_error
from routet2i.gateway.schemas import RoutingInfo
from routet2i.gateway.security import KeyRing, check_admin, check_client
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.decision import RouteDecision
from routet2i.routing.dispatcher import Dispatcher
from routet2i.routing.errors import RoutingError
from routet2i.types import AUTO, TierName

T = TypeVar("T")

#: Every decision header, so CORS can expose them to browsers.
ROUTING_HEADERS = (
    "X-Routet2i-Tier",
    "X-Routet2i-Reason",
    "X-Routet2i-Wanted-Tier",
    "X-Routet2i-Forced",
    "X-Routet2i-Model",
    "X-Routet2i-PRS",
    "X-Routet2i-Metrics",
    "X-Routet2i-Threshold",
    "X-Routet2i-Threshold-Source",
    "X-Routet2i-Router-Ms",
    "X-Routet2i-Cloud-Share",
    "X-Routet2i-Cloud-Left",
    "X-Routet2i-Budget-Cap",
    "X-Routet2i-Fallback-From",
    "X-Routet2i-Fallback-Cause",
    "X-Routet2i-Seed",
    "X-Request-ID",
)


async def get_dispatcher(request: Request) -> Dispatcher:
    # async: FastAPI would run a plain function on a thread pool (a thread hop per request)
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


#: The app's :class:`~routet2i.routing.dispatcher.Dispatcher`, as a FastAPI dependency.
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
#: The app's settings, as a FastAPI dependency.
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]


async def require_client(request: Request) -> None:
    """FastAPI dependency: a valid client key (when keys are configured)."""
    ring: KeyRing = request.app.state.client_keys
    check_client(request, ring)


async def require_admin(request: Request) -> None:
    """FastAPI dependency: the operator key."""
    ring: KeyRing = request.app.state.admin_keys
    check_admin(request, ring)


def forced_tier(choice: str, dispatcher: Dispatcher, *, field: str) -> TierName | None:
    """None for ``auto``; the tier named ``choice`` when the config allows forcing it (422 naming
    ``field`` for a name that is no tier, 403 when forcing it is disabled)."""
    if choice == AUTO:
        return None
    names = list(dispatcher.tiers)
    if choice not in names:
        raise InvalidField(f"{field}: {choice!r} is not a tier; choose {AUTO!r} or one of {names}", field=field)
    if choice not in dispatcher.config.forcible():
        raise Forbidden(f"forcing the {choice} tier is disabled by the gateway's configuration", field=field)
    return choice


def routing_headers(info: RoutingInfo) -> dict[str, str]:
    headers = {
        "X-Routet2i-Tier": info.tier,
        "X-Routet2i-Reason": info.reason,
        "X-Routet2i-Wanted-Tier": info.wanted_tier,
        "X-Routet2i-Forced": "true" if info.forced else "false",
        "X-Routet2i-Threshold": f"{info.threshold:.6f}",
        "X-Routet2i-Threshold-Source": info.threshold_source,
        "X-Routet2i-Router-Ms": f"{info.router_ms:.3f}",
        "X-Routet2i-Cloud-Share": f"{info.budget.realised_cloud_share:.6f}",
        "X-Routet2i-Metrics": json.dumps(info.metrics, separators=(",", ":")),
    }
    if info.model is not None:
        headers["X-Routet2i-Model"] = info.model
    if info.prs is not None:
        headers["X-Routet2i-PRS"] = f"{info.prs:.6f}"
    if info.budget.cloud_left_in_window is not None:
        headers["X-Routet2i-Cloud-Left"] = str(info.budget.cloud_left_in_window)
    if info.budget.cap is not None:
        headers["X-Routet2i-Budget-Cap"] = info.budget.cap
    if info.fallback_from is not None:
        headers["X-Routet2i-Fallback-From"] = info.fallback_from
        headers["X-Routet2i-Fallback-Cause"] = info.fallback_cause or ""
    return headers


def accepts_png(accept: str | None) -> bool:
    """Whether ``Accept`` prefers ``image/png`` to JSON (``*/*`` and no header mean JSON)."""
    if not accept:
        return False
    q_png = q_json = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in ("image/png", "image/*"):
            q_png = max(q_png, q)
        elif media in ("application/json", "application/*", "*/*"):
            q_json = max(q_json, q)
    return q_png > 0 and q_png > q_json


async def observe(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, leaving its routing fields in ``request.state.log`` for the access log and
    the request metrics (also when it fails after the decision)."""
    log_fields: dict[str, object] = request.state.log
    try:
        result = await work
    except RoutingError as exc:
        if exc.decision is not None:
            log_fields.update({"tier": exc.decision.tier, "reason": exc.decision.reason})
        log_fields["error"] = from_routing_error(exc).error_type
        raise
    except ApiError as exc:
        if exc.routing:
            log_fields.update({"tier": exc.routing.get("tier"), "reason": exc.routing.get("reason")})
        log_fields["error"] = exc.error_type
        raise
    decision: RouteDecision | None = getattr(result, "decision", None)
    if decision is not None:
        prs = None if decision.prs is None else round(decision.prs, 6)
        log_fields.update({"tier": decision.tier, "reason": decision.reason, "prs": prs})
    return result
