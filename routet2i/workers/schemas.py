"""The worker's HTTP schemas (pydantic): what ``POST /v1/generate`` takes and returns, and the
bodies of ``GET /v1/info`` and of every error.

The gateway imports these together with :class:`~routet2i.workers.client.WorkerClient`, so they
carry no server logic. Generic rules (types, positive numbers) live here; per-model limits (size,
steps, n, prompt length) depend on the worker's config and are checked by the worker, which
answers 422 naming the field.

Seeds: image ``i`` of a request with seed ``s`` is generated with seed ``(s + i) mod 2**32``, and
each image reports its own seed, so any image can be remade alone with ``n=1``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routet2i.http_rules import JsonBody

#: Seeds are unsigned 32-bit integers.
SEED_MODULUS = 2**32

#: Request header carrying the caller's remaining time budget, in seconds (a float). A request
#: still queued when it runs out is dropped (never generated) and answered 504.
TIMEOUT_HEADER = "X-Request-Timeout"


class GenerateRequest(JsonBody):
    """Body of ``POST /v1/generate``. Fields left out take the worker's defaults (``/v1/info``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(min_length=1, description="What to draw (not blank).", json_schema_extra={"pattern": r"\S"})
    negative_prompt: str | None = Field(default=None, description="What to avoid (only used with guidance > 1).")
    width: int | None = Field(default=None, ge=1, description="Pixels; a multiple of the worker's size_multiple.")
    height: int | None = Field(default=None, ge=1, description="Pixels; a multiple of the worker's size_multiple.")
    steps: int | None = Field(default=None, ge=1, description="Denoising steps.")
    guidance_scale: float | None = Field(default=None, ge=0, description="Classifier-free guidance; ≤ 1 disables it.")
    seed: int | None = Field(
        default=None, ge=0, lt=SEED_MODULUS, description="Seed of the first image; random if left out."
    )
    n: int = Field(default=1, ge=1, description="Number of images; image i uses seed + i.")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        return value


class GenerationParameters(BaseModel):
    """The parameters a request actually ran with (defaults filled in)."""

    width: int
    height: int
    steps: int
    guidance_scale: float
    negative_prompt: str | None = None


class GeneratedImage(BaseModel):
    b64_png: str = Field(description="The image as a base64-encoded PNG.")
    seed: int | None = Field(
        description="The seed that made this image (remake it with n=1 and this seed); null when the "
        "backend has no seeds (a hosted API without a seed parameter)."
    )


class Timings(BaseModel):
    """Where the time went, in milliseconds."""

    queue_ms: float = Field(description="Waiting in the queue (batching wait included).")
    generate_ms: float = Field(description="The backend call that made this request's batch.")
    total_ms: float = Field(description="From arrival to response.")
    batch_images: int = Field(description="Images made by the backend call that served this request.")
    batch_requests: int = Field(description="Requests sharing that call.")


class GenerateResponse(BaseModel):
    """Body of a successful ``POST /v1/generate``."""

    images: list[GeneratedImage]
    model: str
    parameters: GenerationParameters
    timings: Timings


class QueueState(BaseModel):
    pending: int = Field(description="Requests waiting for the model.")
    pending_images: int
    max_pending: int
    running: int = Field(description="Backend calls in flight.")


class WorkerInfo(BaseModel):
    """Body of ``GET /v1/info``."""

    model: str
    backend: str
    tier: str | None
    ready: bool
    defaults: dict[str, Any]
    limits: dict[str, Any]
    batching: dict[str, Any]
    queue: QueueState
    #: Request fields this backend can honour (the hosted-API backend may refuse some).
    supported_fields: list[str]
    backend_details: dict[str, Any] = Field(default_factory=dict)


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None
    retry_after: float | None = None


class ErrorResponse(BaseModel):
    """Body of every error: ``{"error": {"type", "message", "field"?, "retry_after"?}}``."""

    error: ErrorDetail
