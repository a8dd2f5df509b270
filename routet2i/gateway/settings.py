"""Gateway settings: the router checkpoint, the tiers, the budget, limits, health, security, learning.

The domain blocks are the routing core's own types (:class:`~routet2i.routing.settings.TierOptions`,
:class:`~routet2i.routing.settings.RoutingOptions`, :class:`~routet2i.routing.settings.HealthOptions`,
:class:`~routet2i.routing.budget.BudgetPolicy`), declared once there.

Loaded from ``configs/gateway.yaml`` (or ``--config``) with ``ROUTET2I_GATEWAY_`` environment overrides,
nested fields joined with ``__``: ``ROUTET2I_GATEWAY_BUDGET__CLOUD_SHARE=0.2``,
``ROUTET2I_GATEWAY_TIERS__CLOUD__URL=http://gpu-2:8002``, ``ROUTET2I_GATEWAY_SECURITY__API_KEYS='["k1","k2"]'``.
Times are seconds unless the name says ``_ms``; sizes are pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import Field, RootModel, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from routet2i.budget_store.settings import BudgetSettings
from routet2i.config import StrictModel, YamlSettings, service_env_prefix
from routet2i.predictor.backends import DEFAULT_BACKEND, Backend
from routet2i.routing.settings import DEFAULT_TIER_OPTIONS, DispatchConfig, HealthOptions, RoutingOptions, TierOptions
from routet2i.routing.shadow import ShadowPolicy
from routet2i.routing.tiers import Tiers
from routet2i.types import AUTO, DEFAULT_TIERS, TierName


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
    #: How encoder and predictor run: ``torch`` (fp32), ``int8``, ``onnx`` (ONNX Runtime fp32, the
    #: same decisions as torch, ~2× faster on a CPU core) or ``onnx-int8``; the non-torch backends run
    #: on the CPU (``device: auto`` then means cpu). See routet2i/predictor/backends.py.
    backend: Backend = DEFAULT_BACKEND
    #: Most prompts encoded in one forward pass.
    max_batch: int = Field(default=64, ge=1)
    #: Once concurrent requests are seen, a batch waits at most this long for company (ms).
    #: A lone request never waits: batches form from what queued while the model was busy.
    max_wait_ms: float = Field(default=2.0, ge=0)
    #: Predictions kept by normalised prompt, so a repeated prompt skips the model (LRU entries,
    #: about 1 kB each; 0 turns the cache off). Cleared when another checkpoint goes live.
    cache_size: int = Field(default=10_000, ge=0)
    #: PRŜ metric weights (name → weight), e.g. ``{alignment: 1}``; null = the checkpoint's own.
    #: Other weights need a calibration made with them (``routet2i calibrate --weights``); without
    #: one the threshold starts at 0.5 and follows live traffic.
    metric_weights: dict[str, float] | None = None


class TiersOptions(RootModel[dict[TierName, TierOptions]]):
    """The tiers by name, cheapest first (the order of the config). A config that names only
    ``edge`` and/or ``cloud`` gets the built-in options of the one it leaves out, so every
    two-tier config keeps working; ``tiers.edge`` and ``tiers.get("edge")`` read one tier."""

    root: dict[TierName, TierOptions] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if isinstance(data, Mapping) and set(data) <= set(DEFAULT_TIERS):
            return {name: data.get(name, DEFAULT_TIER_OPTIONS[name]) for name in DEFAULT_TIERS}
        return data

    @model_validator(mode="after")
    def _two_named_tiers(self) -> TiersOptions:
        Tiers.of(self.root)  # exactly two, distinct, well-formed names (the ValueError says which)
        return self

    @property
    def names(self) -> Tiers:
        return Tiers.of(self.root)

    def get(self, tier: TierName) -> TierOptions:
        try:
            return self.root[tier]
        except KeyError:
            raise KeyError(f"no tier named {tier!r}; the tiers are {list(self.root)}") from None

    def items(self) -> list[tuple[TierName, TierOptions]]:
        return list(self.root.items())

    def __getattr__(self, name: str) -> TierOptions:
        root = self.__dict__.get("root")
        if isinstance(root, dict) and name in root:
            return cast(TierOptions, root[name])
        return cast(TierOptions, super().__getattr__(name))  # type: ignore[misc]


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


class LearningOptions(StrictModel):
    """Learning from live traffic: which served requests are also made on the other tier (shadow
    pairs, :mod:`routet2i.routing.shadow`) and where the pairs are stored."""

    shadow: ShadowPolicy = Field(default_factory=ShadowPolicy)
    #: Folder of the shadow store (``manifest.jsonl`` + ``images/``, the layout of a
    #: ``generate-pairs`` run); relative to the gateway's working directory.
    store: Path = Path("runs/shadow")


class GatewaySettings(YamlSettings):
    """The gateway process."""

    model_config = SettingsConfigDict(env_prefix=service_env_prefix("gateway"))

    default_file: ClassVar[str | None] = "gateway.yaml"
    env_only: ClassVar[tuple[tuple[str, ...], ...]] = (("budget", "redis_password"),)

    server: ServerOptions = Field(default_factory=ServerOptions)
    router: RouterOptions = Field(default_factory=RouterOptions)
    tiers: TiersOptions = Field(default_factory=TiersOptions)
    routing: RoutingOptions = Field(default_factory=RoutingOptions)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    limits: LimitOptions = Field(default_factory=LimitOptions)
    health: HealthOptions = Field(default_factory=HealthOptions)
    security: SecurityOptions = Field(default_factory=SecurityOptions)
    logging: LoggingOptions = Field(default_factory=LoggingOptions)
    learning: LearningOptions = Field(default_factory=LearningOptions)

    @model_validator(mode="after")
    def _consistent_tiers(self) -> GatewaySettings:
        tiers = self.tiers.items()
        names = {opts.model for _, opts in tiers}
        if len(names) < len(tiers):
            raise ValueError(
                " and ".join(f"tiers.{t}.model" for t, _ in tiers) + " must differ (clients pick a tier by name)"
            )
        words = [AUTO, *self.tiers.names]
        reserved = sorted(names & set(words))
        if reserved:
            raise ValueError(f"tier model names {reserved} are reserved ({', '.join(words)})")
        for tier, opts in tiers:
            for side in ("default_width", "default_height"):
                value = getattr(opts, side)
                problem = None if value is None else self.limits.size_problem(f"tiers.{tier}.{side}", value)
                if problem:
                    raise ValueError(problem)
        unknown = [t for t in self.routing.allow_forced or [] if t not in self.tiers.names]
        if unknown:
            raise ValueError(f"routing.allow_forced: {unknown} are not tiers; the tiers are {list(self.tiers.names)}")
        return self

    def default_size(self, tier: TierName) -> tuple[int, int]:
        """(width, height) in pixels for a request to ``tier`` that gives no size: the tier's
        ``default_width/height``, else ``limits.default_width/height``."""
        opts = self.tiers.get(tier)
        width = self.limits.default_width if opts.default_width is None else opts.default_width
        height = self.limits.default_height if opts.default_height is None else opts.default_height
        return width, height

    def dispatch_config(self) -> DispatchConfig:
        """What the routing core's dispatcher is configured with."""
        names = self.tiers.names
        return DispatchConfig(
            tiers={t: self.tiers.get(t) for t in names},
            default_sizes={t: self.default_size(t) for t in names},
            routing=self.routing,
            budget=self.budget.policy(),
            health=self.health,
            request_timeout_s=self.limits.request_timeout_s,
            max_in_flight=self.limits.max_in_flight,
            max_batch=self.router.max_batch,
            max_wait_ms=self.router.max_wait_ms,
            cache_size=self.router.cache_size,
            shadow=self.learning.shadow,
        )
