"""What the route modules share: dependencies, the decision headers, content negotiation, the
images in the format asked for."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Sequence
from typing import Annotated, TypeVar

from fastapi import Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from routet2i.gateway.errors import ApiError, Forbidden, InvalidField, NotAcceptable, UpstreamError, from_routing_error
from routet2i.gateway.image_format import FORMATS, MEDIA_TYPES, ImageFormat, InvalidImage, encode
from routet2i.gateway.schemas import RoutingInfo
from routet2i.gateway.security import KeyRing, check_admin, check_client
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.decision import RouteDecision
from routet2i.routing.dispatcher import Dispatcher
from routet2i.routing.errors import RoutingError
from routet2i.types import AUTO, TierName
from routet2i.workers.schemas import GeneratedImage

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


#: The media type of a JSON answer.
JSON_MEDIA = "application/json"


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """``Accept``'s media ranges as (type, subtype, q); a malformed q counts as 0."""
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        if media == "*":
            media = "*/*"
        kind, slash, subtype = media.partition("/")
        if not slash or not kind or not subtype:
            continue
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges.append((kind, subtype, q))
    return ranges


def _quality(media: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q ``Accept`` gives ``media``: that of its most specific matching range (RFC 9110 §12.5.1)."""
    kind, _, subtype = media.partition("/")
    best: tuple[int, float] = (-1, 0.0)
    for r_kind, r_subtype, q in ranges:
        if (r_kind, r_subtype) == (kind, subtype):
            specificity = 2
        elif r_kind == kind and r_subtype == "*":
            specificity = 1
        elif (r_kind, r_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        if specificity > best[0] or (specificity == best[0] and q > best[1]):
            best = (specificity, q)
    return best[1]


def negotiate_image(accept: str | None, output_format: ImageFormat | None) -> ImageFormat | None:
    """What ``POST /generate`` answers for this ``Accept``: None for JSON (also for no ``Accept``
    and for ``*/*``), else the image format to send raw (``image/*`` means PNG). ``output_format``,
    when given, is the only image type on offer. Ties go to JSON, then PNG, JPEG, WebP. 406 naming
    what can be produced when ``Accept`` accepts none of it."""
    if not accept or not accept.strip():
        return None
    offers: list[tuple[str, ImageFormat | None]] = [(JSON_MEDIA, None)]
    offers += [(MEDIA_TYPES[fmt], fmt) for fmt in FORMATS if output_format in (None, fmt)]
    ranges = _media_ranges(accept)
    chosen, best_q = None, 0.0
    for media, fmt in offers:
        q = _quality(media, ranges)
        if q > best_q:
            chosen, best_q = fmt, q
    if best_q <= 0:
        produced = ", ".join(media for media, _ in offers)
        why = f" for output_format {output_format}" if output_format is not None else ""
        raise NotAcceptable(f"Accept: {accept!r} accepts nothing this endpoint produces{why}: {produced}")
    return chosen


def _encode_all(images: Sequence[GeneratedImage], fmt: ImageFormat, compression: int | None, tier: str) -> list[bytes]:
    out = []
    for image in images:
        try:
            png = base64.b64decode(image.b64_png, validate=True)
        except binascii.Error:
            raise UpstreamError(f"the {tier} worker answered an image that is not base64") from None
        try:
            out.append(encode(png, fmt, compression))
        except InvalidImage as exc:
            raise UpstreamError(f"the {tier} worker answered an image that cannot be read: {exc}") from None
    return out


async def encoded_images(
    images: Sequence[GeneratedImage], fmt: ImageFormat, compression: int | None, tier: str
) -> list[bytes]:
    """The workers' PNGs as ``fmt`` (502 when a worker answered something that is no image).
    Re-encoding runs on a worker thread; a PNG is only base64-decoded."""
    if fmt == "png":
        return _encode_all(images, fmt, compression, tier)
    return await run_in_threadpool(_encode_all, images, fmt, compression, tier)


async def b64_images(
    images: Sequence[GeneratedImage], fmt: ImageFormat, compression: int | None, tier: str
) -> list[str]:
    """The workers' images base64-encoded as ``fmt`` (a PNG is passed on as the worker sent it)."""
    if fmt == "png":
        return [image.b64_png for image in images]
    return [base64.b64encode(b).decode("ascii") for b in await encoded_images(images, fmt, compression, tier)]


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
