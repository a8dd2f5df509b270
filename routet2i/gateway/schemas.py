"""Request and response bodies of the gateway's HTTP API (DESIGN §3).

Static rules (types, signs) live here, strictly typed (``true`` is not a number, ``"5"`` is not an
integer); limits that come from the config (prompt length, size, steps, n) are checked by
:mod:`routet2i.gateway.validation`, which answers 422 naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routet2i.workers.schemas import SEED_MODULUS

RouteChoice = Literal["auto", "edge", "cloud"]


class GenerateBody(BaseModel):
    """``POST /generate``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(description="What to draw.")
    negative_prompt: str | None = Field(default=None, description="What to avoid.")
    width: int | None = Field(default=None, ge=1, description="Pixels (default: the chosen tier's default size).")
    height: int | None = Field(default=None, ge=1, description="Pixels (default: the chosen tier's default size).")
    steps: int | None = Field(default=None, ge=1, description="Denoising steps (default: the tier's own).")
    guidance_scale: float | None = Field(default=None, ge=0, description="Classifier-free guidance (default: the tier's).")
    seed: int | None = Field(default=None, ge=0, lt=SEED_MODULUS, description="Seed of the first image; image i uses seed+i.")
    n: int = Field(default=1, ge=1, description="Number of images.")
    route: RouteChoice = Field(default="auto", description="auto: the router decides; edge / cloud: force a tier.")


class ImageOut(BaseModel):
    b64_png: str
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
    cap: str | None = None


class RoutingInfo(BaseModel):
    """The decision that every response carries."""

    tier: str = Field(description="The tier that served (or would serve) the request.")
    reason: str = Field(description="predicted | budget_cap | forced | no_prediction | fallback")
    wanted_tier: str = Field(description="Where the predictor (or the caller, if forced) wanted it.")
    forced: bool
    model: str | None = Field(default=None, description="The serving tier's model name.")
    prs: float | None = Field(description="PRŜ: predicted Pareto relative superiority of the edge (> 0.5: edge better).")
    metrics: dict[str, float] = Field(description="D̂ per metric.")
    threshold: float = Field(description="α: PRŜ < α goes to the cloud (α ≤ 0.5).")
    threshold_source: str
    budget: BudgetSummary
    router_ms: float = Field(description="Time spent routing (queue + encode + predict + decide).")
    fallback_from: str | None = None
    fallback_cause: str | None = None


class Timings(BaseModel):
    router_ms: float
    worker_ms: float
    total_ms: float
    worker: dict[str, Any] = Field(default_factory=dict, description="The worker's own timings.")


class GenerateResult(BaseModel):
    """Body of a successful ``POST /generate``."""

    images: list[ImageOut]
    model: str
    routing: RoutingInfo
    timings: Timings
    request_id: str | None = None


class RouteBody(BaseModel):
    """``POST /v1/route``: one ``prompt`` or a batch of ``prompts``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str | None = None
    prompts: list[str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RouteBody:
        if (self.prompt is None) == (self.prompts is None):
            raise ValueError("give exactly one of 'prompt' or 'prompts'")
        return self


class RouteDecisionOut(BaseModel):
    prompt: str
    prs: float | None
    metrics: dict[str, float]
    tier: str
    reason: str
    wanted_tier: str
    threshold: float
    threshold_source: str
    cap: str | None = None


class RouteResult(BaseModel):
    decisions: list[RouteDecisionOut]
    router_ms: float
    budget: dict[str, Any]


class BudgetUpdate(BaseModel):
    """``PUT /v1/budget`` (operator only). Fields left out keep their value; ``null`` disables
    that part of the budget."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cloud_share: float | None = Field(default=None, ge=0, le=1)
    money_per_period: float | None = Field(default=None, ge=0)
    period_s: float | None = Field(default=None, gt=0)
    window: int | None = Field(default=None, ge=1)
    warmup: int | None = Field(default=None, ge=1)


class OpenAIImageRequest(BaseModel):
    """``POST /v1/images/generations`` (OpenAI Images API). Unknown fields are ignored, as the
    OpenAI client may send newer ones; fields that would change the result and cannot be
    honoured are refused with 400."""

    model_config = ConfigDict(extra="ignore", strict=True)

    prompt: str
    model: str | None = None
    n: int | None = Field(default=None, ge=1)
    size: str | None = None
    response_format: str | None = None
    output_format: str | None = None
    stream: bool | None = None
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
    output_format: str = "png"
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
        405: "Method not allowed",
        413: "Body over limits.max_body_bytes",
        422: "Invalid request (the field is named)",
        429: "Over capacity or cloud budget spent (see Retry-After)",
        500: "A bug (quote the request id)",
        502: "The worker failed",
        503: "No tier available (see Retry-After)",
        504: "The request deadline passed",
    }
    return {status: {"model": ErrorBody, "description": text} for status, text in texts.items()}


#: The error answers every gateway operation may give (documented in its OpenAPI schema).
ERROR_RESPONSES = _error_responses()
