"""Request and response bodies of the gateway's HTTP API (DESIGN §3).

Static rules (types, signs) live here, strictly typed (``true`` is not a number, ``"5"`` is not an
integer); limits that come from the config (prompt length, size, steps, n) are checked by
:mod:`routet2i.gateway.validation`, which answers 422 naming the field, and stated in the OpenAPI
document by :mod:`routet2i.gateway.openapi` from the same settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from routet2i.gateway.image_format import MAX_COMPRESSION, MIN_COMPRESSION, ImageFormat
from routet2i.http_rules import JsonBody
from routet2i.routing.budget import BudgetPolicy
from routet2i.routing.decision import RouteDecision
from routet2i.types import AUTO, CapKind, FallbackCause, Reason, ThresholdSource, TierName
from routet2i.workers.schemas import SEED_MODULUS


class GenerateBody(JsonBody):
    """``POST /generate``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(min_length=1, description="What to draw (not blank).")
    negative_prompt: str | None = Field(default=None, description="What to avoid.")
    width: int | None = Field(default=None, ge=1, description="Pixels (default: the chosen tier's default size).")
    height: int | None = Field(default=None, ge=1, description="Pixels (default: the chosen tier's default size).")
    steps: int | None = Field(default=None, ge=1, description="Denoising steps (default: the tier's own).")
    guidance_scale: float | None = Field(
        default=None, ge=0, description="Classifier-free guidance (default: the tier's)."
    )
    seed: int | None = Field(
        default=None, ge=0, lt=SEED_MODULUS, description="Seed of the first image; image i uses seed+i."
    )
    n: int = Field(default=1, ge=1, description="Number of images.")
    route: str = Field(
        default=AUTO, description="auto: the router decides; a tier's name (edge / cloud by default): force that tier."
    )
    output_format: ImageFormat | None = Field(
        default=None,
        description="png | jpeg | webp. Default: the image type that Accept asks for, else png. JSON answers carry "
        "each image base64-encoded in b64_<format>.",
    )
    output_compression: int | None = Field(
        default=None,
        ge=MIN_COMPRESSION,
        le=MAX_COMPRESSION,
        description="JPEG / WebP quality, 0-100 as in the OpenAI Images API (default 100; lower: smaller files). "
        "Ignored for PNG (lossless).",
    )


#: The image fields of :class:`ImageOut`, one per output format (only the answered one is sent).
IMAGE_FIELDS: dict[ImageFormat, str] = {"png": "b64_png", "jpeg": "b64_jpeg", "webp": "b64_webp"}


class ImageOut(BaseModel):
    """One image, base64-encoded in the field of its format (``b64_png`` by default); the other two
    fields are left out."""

    b64_png: str | None = Field(default=None, description="The image as a base64 PNG (output_format png).")
    b64_jpeg: str | None = Field(default=None, description="The image as a base64 JPEG (output_format jpeg).")
    b64_webp: str | None = Field(default=None, description="The image as a base64 WebP (output_format webp).")
    #: The seed that made this image (null when the tier's backend has no seeds).
    seed: int | None


class BudgetSummary(BaseModel):
    """The budget as it stood when the request was decided."""

    cloud_share: float | None
    effective_share: float | None
    realised_cloud_share: float
    cloud_left_in_window: int | None
    money_left: float | None
    #: ``share`` or ``money`` when that budget sent this request to the edge.
    cap: CapKind | None = None


class RoutingInfo(BaseModel):
    """The decision that every response carries."""

    tier: TierName = Field(description="The tier that served (or would serve) the request.")
    reason: Reason
    wanted_tier: TierName = Field(description="Where the predictor (or the caller, if forced) wanted it.")
    forced: bool
    model: str | None = Field(default=None, description="The serving tier's model name.")
    prs: float | None = Field(
        description="PRŜ: predicted Pareto relative superiority of the edge (> 0.5: edge better)."
    )
    metrics: dict[str, float] = Field(description="D̂ per metric.")
    threshold: float = Field(description="α: PRŜ < α goes to the cloud (α ≤ 0.5).")
    threshold_source: ThresholdSource
    budget: BudgetSummary
    router_ms: float = Field(description="Time spent routing (queue + encode + predict + decide).")
    fallback_from: TierName | None = None
    fallback_cause: FallbackCause | None = None


def routing_info(decision: RouteDecision) -> RoutingInfo:
    """The ``routing`` block of an answer (values rounded to 6 decimals, ms to 3)."""
    state = decision.budget
    return RoutingInfo(
        tier=decision.tier,
        reason=decision.reason,
        wanted_tier=decision.wanted_tier,
        forced=decision.forced,
        model=decision.model,
        prs=None if decision.prs is None else round(decision.prs, 6),
        metrics={k: round(v, 6) for k, v in decision.metrics.items()},
        threshold=round(decision.threshold, 6),
        threshold_source=decision.threshold_source,
        budget=BudgetSummary(
            cloud_share=state.cloud_share,
            effective_share=state.effective_share,
            realised_cloud_share=round(state.realised_cloud_share, 6),
            cloud_left_in_window=state.cloud_left_in_window,
            money_left=state.money_left,
            cap=decision.cap,
        ),
        router_ms=round(decision.router_ms, 3),
        fallback_from=decision.fallback_from,
        fallback_cause=decision.fallback_cause,
    )


class Timings(BaseModel):
    router_ms: float
    worker_ms: float
    total_ms: float
    worker: dict[str, Any] = Field(default_factory=dict, description="The worker's own timings.")


class GenerateResult(BaseModel):
    """Body of a successful ``POST /generate``."""

    images: list[ImageOut]
    output_format: ImageFormat = Field(description="The format of every image (its field is b64_<format>).")
    model: str
    routing: RoutingInfo
    timings: Timings
    request_id: str | None = None


def _exactly_one_prompt_field(schema: dict[str, Any]) -> None:
    """:class:`RouteBody`'s JSON schema: ``prompt`` (a string) or ``prompts`` (a non-empty list of
    strings), exactly one of them, never null."""
    props = schema["properties"]
    props["prompt"] = {"type": "string", "minLength": 1, "title": "Prompt", "description": "One prompt."}
    props["prompts"] = {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "title": "Prompts",
        "description": "A batch of prompts.",
    }
    schema["oneOf"] = [{"required": ["prompt"]}, {"required": ["prompts"]}]


class RouteBody(JsonBody):
    """``POST /v1/route``: exactly one of ``prompt`` or a batch of ``prompts``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_exactly_one_prompt_field)

    prompt: str | None = None
    prompts: list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RouteBody:
        given = [name for name in ("prompt", "prompts") if getattr(self, name) is not None]
        if len(given) != 1 or len(self.model_fields_set) != 1:  # a null given counts as given
            raise ValueError("give exactly one of 'prompt' or 'prompts' (not null)")
        return self


class RouteDecisionOut(BaseModel):
    prompt: str
    prs: float | None
    metrics: dict[str, float]
    tier: TierName
    reason: Reason
    wanted_tier: TierName
    threshold: float
    threshold_source: ThresholdSource
    cap: CapKind | None = None

    @classmethod
    def of(cls, prompt: str, decision: RouteDecision) -> RouteDecisionOut:
        return cls(
            prompt=prompt,
            prs=decision.prs,
            metrics=dict(decision.metrics),
            tier=decision.tier,
            reason=decision.reason,
            wanted_tier=decision.wanted_tier,
            threshold=decision.threshold,
            threshold_source=decision.threshold_source,
            cap=decision.cap,
        )


class RouteResult(BaseModel):
    decisions: list[RouteDecisionOut]
    router_ms: float
    budget: dict[str, Any]


class _BudgetUpdateBase(JsonBody):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})


def _budget_update() -> type[BaseModel]:
    """``PUT /v1/budget``'s body: every field of :class:`~routet2i.routing.budget.BudgetPolicy`,
    optional, with the policy's own types and bounds (so each rule is written once there and the
    schema states it): a field the policy allows to be null may be set to null, the others not."""
    fields: dict[str, Any] = {}
    for name, info in BudgetPolicy.model_fields.items():
        kind = info.annotation
        nullable = type(None) in get_args(kind)
        base = next(a for a in get_args(kind) if a is not type(None)) if nullable else kind
        typed: Any = Annotated[(Optional[base] if nullable else base, *info.metadata)]  # noqa: UP045
        fields[name] = (typed, Field(default=None, description=info.description))
    return create_model(
        "BudgetUpdate",
        __base__=_BudgetUpdateBase,
        __doc__="``PUT /v1/budget`` (operator only). Fields left out keep their value; ``null`` disables "
        "that part of the budget (cloud_share, money_per_period).",
        **fields,
    )


if TYPE_CHECKING:  # the type checker sees a plain model; at run time the fields come from BudgetPolicy

    class BudgetUpdate(BaseModel): ...

else:
    BudgetUpdate = _budget_update()


class OpenAIImageRequest(JsonBody):
    """``POST /v1/images/generations`` (OpenAI Images API). Unknown fields are ignored, as the
    OpenAI client may send newer ones; fields that would change the result and cannot be
    honoured are refused with 400."""

    model_config = ConfigDict(extra="ignore", strict=True)

    prompt: str = Field(min_length=1)
    model: str | None = None
    n: int | None = Field(default=None, ge=1)
    size: str | None = Field(default=None, description="WIDTHxHEIGHT (e.g. 512x512) or auto.")
    response_format: str | None = Field(
        default=None, description="b64_json only.", json_schema_extra={"enum": ["b64_json", None]}
    )
    output_format: ImageFormat | None = Field(default=None, description="png (default) | jpeg | webp.")
    output_compression: int | None = Field(
        default=None,
        ge=MIN_COMPRESSION,
        le=MAX_COMPRESSION,
        description="JPEG / WebP quality, 0-100 (default 100); ignored for PNG.",
    )
    stream: bool | None = Field(default=None, description="false only.", json_schema_extra={"enum": [False, None]})
    quality: str | None = None
    style: str | None = None
    user: str | None = None
    # routet2i extensions (optional, same meaning as in POST /generate)
    negative_prompt: str | None = None
    seed: int | None = Field(default=None, ge=0, lt=SEED_MODULUS)
    steps: int | None = Field(default=None, ge=1)
    guidance_scale: float | None = Field(default=None, ge=0)


class OpenAIImage(BaseModel):
    b64_json: str
    revised_prompt: str | None = None


class OpenAIImagesResponse(BaseModel):
    created: int
    data: list[OpenAIImage]
    output_format: ImageFormat = "png"
    size: str
    #: routet2i's decision for this request (an extra field; OpenAI clients ignore it).
    routet2i: RoutingInfo


class ErrorInfo(BaseModel):
    """What went wrong (also the OpenAI error shape: ``param`` and ``code``)."""

    type: str = Field(description="invalid_request | unauthorized | forbidden | payload_too_large | overloaded | ...")
    message: str
    code: str
    field: str | None = Field(default=None, description="The request field to blame, if one is.")
    param: str | None = None
    request_id: str | None = None
    retry_after: float | None = Field(default=None, description="Seconds to wait before retrying (also Retry-After).")


class ErrorBody(BaseModel):
    """Body of every error answer; ``routing`` once the decision had been made."""

    error: ErrorInfo
    routing: RoutingInfo | None = None


def _error_responses() -> dict[int | str, dict[str, Any]]:
    texts = {
        400: "Malformed JSON, or an OpenAI value the gateway cannot honour",
        401: "Missing or invalid API key",
        403: "Forcing this tier, or this operator endpoint, is disabled",
        404: "No such resource",
        405: "Method not allowed (Allow lists the path's methods)",
        406: "Accept names no type this endpoint can produce (the message lists them)",
        413: "Body over limits.max_body_bytes",
        415: "The body is not sent as application/json",
        422: "Invalid request (the field is named)",
        429: "Over capacity or cloud budget spent (see Retry-After)",
        500: "A bug (quote the request id)",
        502: "The worker failed",
        503: "No tier available (see Retry-After)",
        504: "The request deadline passed",
    }
    headers = {
        405: {"Allow": {"description": "Every method of this path", "schema": {"type": "string"}}},
        429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
        503: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
    }
    return {
        status: {"model": ErrorBody, "description": text, **({"headers": headers[status]} if status in headers else {})}
        for status, text in texts.items()
    }


#: The error answers every gateway operation may give (documented in its OpenAPI schema).
ERROR_RESPONSES = _error_responses()
