"""Gateway settings: the router checkpoint, the two tiers, the budget, limits, health, security.

Loaded from ``configs/gateway.yaml`` (or ``--config``) with ``ROUTET2I_`` environment overrides,
nested fields joined with ``__``: ``ROUTET2I_BUDGET__CLOUD_SHARE=0.2``,
``ROUTET2I_TIERS__CLOUD__URL=http://gpu-2:8002``, ``ROUTET2I_SECURITY__API_KEYS='["k1","k2"]'``.
Times are seconds unless the name says ``_ms``; sizes are pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from routet2i.config import StrictModel, YamlSettings
from routet2i.routing.breaker import BreakerPolicy
from routet2i.routing.budget import TIERS, BudgetPolicy, Price, Tier


class ServerOptions(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Seconds uvicorn waits for requests in flight when stopping.
    graceful_shutdown_s: float = Field(default=10.0, ge=0)


class RouterOptions(StrictModel):
    """The router checkpoint and how its model is run."""

    #: Checkpoint folder (``config.json`` + ``model.safetensors``); null = the packaged default.
    checkpoint: Path | None = None
    #: ``auto`` (cuda if available, else cpu) or a torch device string.
    device: str = "auto"
    #: Most prompts encoded in one forward pass.
    max_batch: int = Field(default=64, ge=1)
    #: Once concurrent requests are seen, a batch waits at most this long for company (ms).
    #: A lone request never waits: batches form from what queued while the model was busy.
    max_wait_ms: float = Field(default=2.0, ge=0)
    #: PRŜ metric weights (name → weight), e.g. ``{alignment: 1}``; null = the checkpoint's own.
    #: Other weights need a calibration made with them (``routet2i calibrate --weights``); without
    #: one the threshold starts at 0.5 and follows live traffic.
    metric_weights: dict[str, float] | None = None


class PriceOptions(StrictModel):
    """Per-image price on a tier (see :class:`routet2i.routing.budget.Price`)."""

    per_image: float = Field(default=0.0, ge=0)
    per_megapixel: float = Field(default=0.0, ge=0)
    per_megapixel_step: float = Field(default=0.0, ge=0)
    #: Steps assumed for pricing when a request leaves ``steps`` to the worker's default.
    default_steps: int = Field(default=1, ge=1)

    def price(self) -> Price:
        return Price(self.per_image, self.per_megapixel, self.per_megapixel_step)


class TierOptions(StrictModel):
    """One tier: where its worker is and what it costs."""

    #: Base URL of the worker (``POST {url}/v1/generate``).
    url: str = "http://127.0.0.1:8001"
    #: The model name clients may put in OpenAI's ``model`` to force this tier; also shown in
    #: ``/v1/models``.
    model: str = "edge-model"
    #: Longest wait for one image request to this tier (the request deadline may cut it shorter).
    timeout_s: float = Field(default=120.0, gt=0)
    #: Key sent to the worker as ``Authorization: Bearer`` (never logged).
    api_key: SecretStr | None = None
    price: PriceOptions = Field(default_factory=PriceOptions)
    #: Size (pixels) filled in when a request sent to this tier gives none; null = the gateway's
    #: ``limits.default_width`` / ``limits.default_height``. Also the size its price is quoted at.
    default_width: int | None = Field(default=None, ge=8)
    default_height: int | None = Field(default=None, ge=8)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url {value!r} must start with http:// or https://")
        return value.rstrip("/")


class TiersOptions(StrictModel):
    edge: TierOptions = Field(default_factory=lambda: TierOptions(url="http://127.0.0.1:8001", model="sd-turbo"))
    cloud: TierOptions = Field(
        default_factory=lambda: TierOptions(url="http://127.0.0.1:8002", model="sdxl", timeout_s=300.0)
    )

    def get(self, tier: Tier) -> TierOptions:
        return self.edge if tier == "edge" else self.cloud


class RoutingOptions(StrictModel):
    """How the decision may be overridden."""

    #: Tiers a caller may force with ``route`` (native API) or ``model`` (OpenAI API).
    allow_forced: list[Tier] = Field(default_factory=lambda: list(TIERS))
    #: A forced cloud request when the cloud budget is spent: ``reject`` (429) or serve it on the
    #: ``edge`` (reason ``budget_cap``).
    forced_over_budget: Literal["reject", "edge"] = "reject"
    #: Send a request to the other tier when its tier is down or fails (the cloud only where the
    #: budget allows). Forced requests never fall back.
    fallback: bool = True


class BudgetOptions(StrictModel):
    """The cloud budget (see :mod:`routet2i.routing.budget`); adjustable at run time."""

    #: ρ: the largest share of requests sent to the cloud over the window; null = no share cap.
    cloud_share: float | None = Field(default=0.3, ge=0, le=1)
    #: Money per ``period_s`` for both tiers, in the prices' currency; null = no money cap.
    money_per_period: float | None = Field(default=None, ge=0)
    period_s: float = Field(default=3600.0, gt=0)
    #: The share window, in requests.
    window: int = Field(default=1000, ge=1)
    #: Live PRŜ values before the live threshold replaces the checkpoint's calibration.
    warmup: int = Field(default=50, ge=1)

    def policy(self) -> BudgetPolicy:
        return BudgetPolicy(
            cloud_share=self.cloud_share,
            money_per_period=self.money_per_period,
            period_s=self.period_s,
            window=self.window,
            warmup=self.warmup,
        )


class LimitOptions(StrictModel):
    """What a request may ask for; anything else is a 4xx naming the field."""

    max_prompt_chars: int = Field(default=2000, ge=1)
    min_size: int = Field(default=64, ge=8)
    max_size: int = Field(default=1024, ge=8)
    size_multiple: int = Field(default=8, ge=1)
    max_steps: int = Field(default=100, ge=1)
    max_guidance_scale: float = Field(default=30.0, ge=0)
    max_n: int = Field(default=4, ge=1)
    #: Prompts in one ``POST /v1/route`` batch.
    max_route_batch: int = Field(default=256, ge=1)
    #: Largest request body in bytes (413 above).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Size filled in when a request gives none and its tier sets no ``default_width/height``.
    default_width: int = Field(default=512, ge=8)
    default_height: int = Field(default=512, ge=8)
    #: Deadline of a whole request (routing, worker, fallback), in seconds.
    request_timeout_s: float = Field(default=300.0, gt=0)
    #: Generation requests in flight at once; more get 429 with Retry-After.
    max_in_flight: int = Field(default=512, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> LimitOptions:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} > max_size {self.max_size}")
        for side in ("default_width", "default_height"):
            problem = self.size_problem(side, getattr(self, side))
            if problem:
                raise ValueError(problem)
        return self

    def size_problem(self, side: str, value: int) -> str | None:
        """Why ``value`` is not an allowed ``side`` (width / height), or None when it is."""
        if not self.min_size <= value <= self.max_size or value % self.size_multiple:
            return f"{side} {value} must be a multiple of {self.size_multiple} in [{self.min_size}, {self.max_size}]"
        return None


class HealthOptions(StrictModel):
    """Periodic health checks and the circuit breaker of each tier."""

    interval_s: float = Field(default=5.0, gt=0)
    #: Timeout of one health check.
    timeout_s: float = Field(default=2.0, gt=0)
    failure_threshold: int = Field(default=2, ge=1)
    cooldown_s: float = Field(default=5.0, gt=0)
    max_cooldown_s: float = Field(default=60.0, gt=0)

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(self.failure_threshold, self.cooldown_s, max(self.max_cooldown_s, self.cooldown_s))


class SecurityOptions(StrictModel):
    #: Accepted client keys (``Authorization: Bearer`` or ``X-API-Key``); empty = no auth.
    api_keys: list[SecretStr] = Field(default_factory=list)
    #: Operator key for ``PUT /v1/budget`` and ``POST /v1/admin/reload``; null = both are disabled.
    admin_key: SecretStr | None = None
    #: Origins allowed by CORS (``["*"]`` for any); empty = no CORS headers.
    cors_origins: list[str] = Field(default_factory=list)
    #: Whether ``GET /metrics`` needs a client key too.
    protect_metrics: bool = False


class LoggingOptions(StrictModel):
    #: One JSON object per line (else plain text).
    json_logs: bool = True
    #: Log prompts with each request (off by default: prompts may be personal data).
    log_prompts: bool = False


class GatewaySettings(YamlSettings):
    """The gateway process."""

    default_file: ClassVar[str | None] = "gateway.yaml"

    server: ServerOptions = Field(default_factory=ServerOptions)
    router: RouterOptions = Field(default_factory=RouterOptions)
    tiers: TiersOptions = Field(default_factory=TiersOptions)
    routing: RoutingOptions = Field(default_factory=RoutingOptions)
    budget: BudgetOptions = Field(default_factory=BudgetOptions)
    limits: LimitOptions = Field(default_factory=LimitOptions)
    health: HealthOptions = Field(default_factory=HealthOptions)
    security: SecurityOptions = Field(default_factory=SecurityOptions)
    logging: LoggingOptions = Field(default_factory=LoggingOptions)

    @model_validator(mode="after")
    def _distinct_model_names(self) -> GatewaySettings:
        names = {self.tiers.edge.model, self.tiers.cloud.model}
        if len(names) < 2:
            raise ValueError("tiers.edge.model and tiers.cloud.model must differ (clients pick a tier by name)")
        reserved = names & {"auto", "edge", "cloud"}
        if reserved:
            raise ValueError(f"tier model names {sorted(reserved)} are reserved (auto, edge, cloud)")
        for tier in TIERS:
            opts = self.tiers.get(tier)
            for side in ("default_width", "default_height"):
                value = getattr(opts, side)
                problem = None if value is None else self.limits.size_problem(f"tiers.{tier}.{side}", value)
                if problem:
                    raise ValueError(problem)
        return self

    def default_size(self, tier: Tier) -> tuple[int, int]:
        """(width, height) in pixels for a request to ``tier`` that gives no size: the tier's
        ``default_width/height``, else ``limits.default_width/height``."""
        opts = self.tiers.get(tier)
        width = self.limits.default_width if opts.default_width is None else opts.default_width
        height = self.limits.default_height if opts.default_height is None else opts.default_height
        return width, height
