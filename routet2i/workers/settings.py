"""Worker settings: which model, how to load it, request defaults and limits, batching, queue.

Loaded from a YAML file (``configs/edge-*.yaml``, ``configs/cloud-*.yaml``) with ``ROUTET2I_WORKER_``
environment overrides, e.g. ``ROUTET2I_WORKER_DIFFUSERS__DEVICE=cuda:1`` or
``ROUTET2I_WORKER_BATCHING__MAX_WAIT_MS=5``. Sizes are pixels, times are as their names say.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from routet2i.config import StrictModel, YamlSettings, service_env_prefix

_SIZE_KEY = re.compile(r"^(\d+)x(\d+)$")


class DiffusersOptions(StrictModel):
    """How the diffusers backend loads and runs a pipeline."""

    #: ``float16``/``bfloat16``/``float32``; ``auto`` = float16 on CUDA, float32 elsewhere.
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    #: Weight file variant on the hub (``fp16``), or none for the default files.
    variant: str | None = None
    revision: str | None = None
    #: ``auto`` (cuda if available, else mps, else cpu), or a torch device string (``cuda:1``).
    device: str = "auto"
    #: A diffusers scheduler class name replacing the pipeline's own (built from its config).
    scheduler: str | None = None
    #: Extra scheduler config values, applied with the override (e.g. ``timestep_spacing``).
    scheduler_options: dict[str, Any] = Field(default_factory=dict)
    #: ``enable_model_cpu_offload()`` (needs accelerate and a CUDA device); saves GPU memory.
    cpu_offload: bool = False
    #: ``torch.compile`` the denoiser (unet/transformer) at load; warm-up triggers compilation.
    compile: bool = False
    compile_mode: str | None = None
    #: torch intra-op threads (CPU inference); null keeps torch's default (one per core).
    cpu_threads: int | None = Field(default=None, ge=1)
    #: ``auto`` = AutoPipelineForText2Image; ``diffusion_pipeline`` = DiffusionPipeline (any
    #: custom text-to-image pipeline class that the auto mapping does not know).
    loader: Literal["auto", "diffusion_pipeline"] = "auto"


class HostedApiOptions(StrictModel):
    """An OpenAI-Images-compatible endpoint used as a backend (``backend: openai``)."""

    #: Base URL up to the version, without ``/images/generations``.
    base_url: str = "https://api.openai.com/v1"
    #: Name of the environment variable holding the API key (never the key itself); null = no key.
    api_key_env: str | None = "OPENAI_API_KEY"
    #: Our ``WIDTHxHEIGHT`` → the provider's ``size`` string. Only these sizes are accepted.
    sizes: dict[str, str] = Field(default_factory=lambda: {"1024x1024": "1024x1024"})
    #: Sent as ``response_format`` (null for providers that reject it and always return base64).
    response_format: str | None = "b64_json"
    #: Provider body field that takes the seed (null: the provider has no seed; a request with a
    #: seed is then refused). With a seed field every image is its own call (n=1, seed+i).
    seed_param: str | None = None
    #: Provider body field for the negative prompt (null: refused when a request sets one).
    negative_prompt_param: str | None = None
    #: Provider body fields for steps and guidance (null: refused when a request sets them).
    steps_param: str | None = None
    guidance_param: str | None = None
    #: Extra fields sent with every call (``quality: standard``...).
    extra_body: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    #: Calls in flight to the provider at once.
    max_concurrency: int = Field(default=4, ge=1)
    #: Retry-After sent to our caller when the provider says 429 without a Retry-After.
    default_retry_after_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _check_sizes(self) -> HostedApiOptions:
        for key in self.sizes:
            if not _SIZE_KEY.match(key):
                raise ValueError(f"sizes key {key!r} must look like 1024x1024 (WIDTHxHEIGHT)")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} must start with http:// or https://")
        return self

    def size_pairs(self) -> dict[tuple[int, int], str]:
        """``(width, height)`` → provider size string."""
        out: dict[tuple[int, int], str] = {}
        for key, value in self.sizes.items():
            m = _SIZE_KEY.match(key)
            assert m is not None
            out[(int(m.group(1)), int(m.group(2)))] = value
        return out


class GenerationDefaults(StrictModel):
    """Values used for request fields left out."""

    width: int = Field(default=512, ge=8)
    height: int = Field(default=512, ge=8)
    steps: int = Field(default=25, ge=1)
    guidance_scale: float = Field(default=7.5, ge=0)
    negative_prompt: str | None = None


class GenerationLimits(StrictModel):
    """What a request may ask for; anything outside is a 4xx naming the field."""

    size_multiple: int = Field(default=8, ge=1)
    min_size: int = Field(default=64, ge=8)
    max_width: int = Field(default=1024, ge=8)
    max_height: int = Field(default=1024, ge=8)
    #: Largest width x height (pixels), on top of the per-side maxima.
    max_pixels: int = Field(default=1024 * 1024, ge=64)
    min_steps: int = Field(default=1, ge=1)
    max_steps: int = Field(default=50, ge=1)
    min_guidance_scale: float = Field(default=0.0, ge=0)
    max_guidance_scale: float = Field(default=20.0, ge=0)
    max_n: int = Field(default=4, ge=1)
    max_prompt_chars: int = Field(default=2000, ge=1)
    #: The largest request body in bytes (413 above it).
    max_body_bytes: int = Field(default=64 * 1024, ge=256)


class BatchingOptions(StrictModel):
    """Dynamic batching: compatible queued requests (same size, steps, guidance, negative prompt
    presence) run as one pipeline call."""

    enabled: bool = True
    #: Most images in one pipeline call (a single request with more runs alone).
    max_batch_images: int = Field(default=4, ge=1)
    #: How long the first request of a batch waits for compatible company, in milliseconds.
    max_wait_ms: float = Field(default=10.0, ge=0)


class QueueOptions(StrictModel):
    """The bounded queue in front of the model."""

    #: Requests waiting (not yet generating) before new ones get 429.
    max_pending: int = Field(default=32, ge=1)
    #: Deadline for a request that sends no ``X-Request-Timeout`` header, in seconds.
    default_timeout_s: float = Field(default=300.0, gt=0)
    #: Smallest Retry-After (seconds) sent with a 429; the estimate from the backlog can be larger.
    min_retry_after_s: float = Field(default=1.0, gt=0)


class SecurityOptions(StrictModel):
    """Who may use the model. The gateway presents ``tiers.<tier>.api_key``."""

    #: Keys accepted on ``POST /v1/generate`` and ``GET /v1/info`` (``Authorization: Bearer`` or
    #: ``X-API-Key``), compared in constant time, never logged; empty = no authentication (keep
    #: the worker on loopback or a private network then). Set through the environment:
    #: ``ROUTET2I_WORKER_SECURITY__API_KEYS='["k1"]'``. Health checks and ``/metrics`` stay open.
    api_keys: list[SecretStr] = Field(default_factory=list)


class ServerOptions(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    #: Seconds uvicorn waits for requests in flight when stopping (SIGTERM).
    graceful_shutdown_s: int = Field(default=10, ge=0)


class LoggingOptions(StrictModel):
    #: One JSON object per line, with the request id (else plain text); as the gateway's.
    json_logs: bool = True


class WorkerSettings(YamlSettings):
    """One image worker: one model behind one backend."""

    model_config = SettingsConfigDict(env_prefix=service_env_prefix("worker"))

    default_file: ClassVar[str | None] = "edge-sd-turbo.yaml"

    #: ``diffusers`` (a local pipeline) or ``openai`` (an OpenAI-Images-compatible hosted API).
    backend: Literal["diffusers", "openai"] = "diffusers"
    #: diffusers: hub repo id or local folder; openai: the provider's model name.
    model: str = "stabilityai/sd-turbo"
    #: The name reported in responses and /v1/info (default: ``model``).
    name: str | None = None
    #: Informational: which tier this worker serves (a tier name of the gateway, e.g. edge or cloud).
    tier: str | None = None
    #: Run one small generation at start; the worker is ready only after it.
    warmup: bool = True
    diffusers: DiffusersOptions = Field(default_factory=DiffusersOptions)
    api: HostedApiOptions = Field(default_factory=HostedApiOptions)
    defaults: GenerationDefaults = Field(default_factory=GenerationDefaults)
    limits: GenerationLimits = Field(default_factory=GenerationLimits)
    batching: BatchingOptions = Field(default_factory=BatchingOptions)
    queue: QueueOptions = Field(default_factory=QueueOptions)
    server: ServerOptions = Field(default_factory=ServerOptions)
    security: SecurityOptions = Field(default_factory=SecurityOptions)
    logging: LoggingOptions = Field(default_factory=LoggingOptions)

    @property
    def model_name(self) -> str:
        return self.name or self.model

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> WorkerSettings:
        d, lim = self.defaults, self.limits
        for side in ("width", "height"):
            value = getattr(d, side)
            top = getattr(lim, f"max_{side}")
            if value % lim.size_multiple or not lim.min_size <= value <= top:
                raise ValueError(
                    f"defaults.{side}={value} must be a multiple of {lim.size_multiple} in [{lim.min_size}, {top}]"
                )
        if not lim.min_steps <= d.steps <= lim.max_steps:
            raise ValueError(f"defaults.steps={d.steps} outside limits [{lim.min_steps}, {lim.max_steps}]")
        if not lim.min_guidance_scale <= d.guidance_scale <= lim.max_guidance_scale:
            raise ValueError(
                f"defaults.guidance_scale={d.guidance_scale} outside limits "
                f"[{lim.min_guidance_scale}, {lim.max_guidance_scale}]"
            )
        if d.width * d.height > lim.max_pixels:
            raise ValueError(f"defaults {d.width}x{d.height} exceed limits.max_pixels={lim.max_pixels}")
        return self
