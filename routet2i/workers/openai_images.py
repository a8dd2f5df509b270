"""The hosted-API backend: an OpenAI-Images-compatible endpoint as the cloud tier.

It calls ``POST {base_url}/images/generations`` with ``model``, ``prompt``, ``n``, ``size`` (our
``WIDTHxHEIGHT`` mapped through ``api.sizes``) and ``response_format``, plus the provider fields
configured for seed, negative prompt, steps and guidance. A request that sets a field the provider
cannot take is refused (422 naming it) rather than silently ignored. With a seed field, each image
is its own call (n=1, seed+i), so a seed gives the same image alone or as part of ``n``.

Security: the key is read from the environment variable named by ``api.api_key_env``; redirects
are never followed (a 3xx is an upstream error), so the key never travels to another host; a
provider's error message that echoes the key has it masked; a plain-http ``base_url`` off this
machine is warned about at start.

Provider errors map to ours: 429 → overloaded (its Retry-After passed on), 400/422 → our 400
(the prompt or parameters were refused), 413 → 413, 503 → unavailable, other 4xx (credentials,
unknown model) and 5xx → 502, timeout → 504, unreachable → 503.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from routet2i.errors import ConfigError
from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult
from routet2i.workers.errors import (
    WorkerBadRequest,
    WorkerError,
    WorkerOverloaded,
    WorkerPayloadTooLarge,
    WorkerTimeout,
    WorkerUnavailable,
    WorkerUpstreamError,
)
from routet2i.workers.settings import WorkerSettings

log = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Hosts where a plain-http base URL does not expose the key to the network.
_LOOPBACK = ("localhost", "127.0.0.1", "::1")

#: Provider ``param`` names → our request fields (for errors that name a parameter).
_PARAM_FIELDS = {"prompt": "prompt", "n": "n", "size": "width", "negative_prompt": "negative_prompt"}


def parse_retry_after(value: str | None, default: float) -> float:
    """``Retry-After`` in seconds (the delta-seconds form); ``default`` when absent or a date."""
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


class OpenAIImagesBackend(ImageBackend):
    """Generates through an OpenAI-Images-compatible HTTP API."""

    kind = "openai"
    batchable = False

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.options = opts = settings.api
        self.max_concurrency = opts.max_concurrency
        self._sizes = opts.size_pairs()
        fields = ["prompt", "n", "width", "height"]
        for name, param in (
            ("negative_prompt", opts.negative_prompt_param),
            ("steps", opts.steps_param),
            ("guidance_scale", opts.guidance_param),
            ("seed", opts.seed_param),
        ):
            if param is not None:
                fields.append(name)
        self.supported_fields = tuple(fields)
        d = settings.defaults
        if (d.width, d.height) not in self._sizes:
            raise ConfigError(
                f"field 'defaults.width/height' = {d.width}x{d.height}: not among api.sizes {sorted(opts.sizes)}"
            )
        if d.negative_prompt is not None and opts.negative_prompt_param is None:
            raise ConfigError("field 'defaults.negative_prompt' is set but api.negative_prompt_param is null")
        self._api_key: str | None = None
        if opts.api_key_env is not None:
            key = os.environ.get(opts.api_key_env)
            if not key:
                raise ConfigError(
                    f"field 'api.api_key_env' = {opts.api_key_env!r}: that environment variable is not set"
                )
            self._api_key = key
            if urlsplit(opts.base_url).scheme == "http" and urlsplit(opts.base_url).hostname not in _LOOPBACK:
                log.warning("api.base_url %s is plain http: the API key would travel unencrypted", opts.base_url)
        self._client: httpx.AsyncClient | None = None
        self._calls = asyncio.Semaphore(opts.max_concurrency)

    async def start(self, warmup: GenerationJob | None) -> None:
        """Open the connection pool. No warm-up call: it would cost money."""
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        opts = self.options
        self._client = httpx.AsyncClient(
            base_url=opts.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(opts.timeout_s, connect=opts.connect_timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(opts.max_concurrency, 1) * 2),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def details(self) -> dict[str, Any]:
        return {"base_url": self.options.base_url, "sizes": sorted(self.options.sizes)}

    def validate(self, job: GenerationJob) -> None:
        if (job.width, job.height) not in self._sizes:
            offered = ", ".join(sorted(self.options.sizes))
            raise WorkerBadRequest(
                f"size {job.width}x{job.height} is not offered by this model; choose one of {offered}", field="width"
            )

    async def generate(self, jobs: Sequence[GenerationJob]) -> list[list[ImageResult]]:
        return list(await asyncio.gather(*(self._generate_job(job) for job in jobs)))

    async def _generate_job(self, job: GenerationJob) -> list[ImageResult]:
        self.validate(job)
        if self.options.seed_param is None:
            pngs = await self._call(job, n=job.n, seed=None)
            return [ImageResult(png=png, seed=None) for png in pngs]
        per_image = await asyncio.gather(*(self._call(job, n=1, seed=seed) for seed in job.seeds))
        return [ImageResult(png=pngs[0], seed=seed) for pngs, seed in zip(per_image, job.seeds, strict=True)]

    def _body(self, job: GenerationJob, n: int, seed: int | None) -> dict[str, Any]:
        opts = self.options
        body: dict[str, Any] = dict(opts.extra_body)
        body.update(model=self.settings.model, prompt=job.prompt, n=n, size=self._sizes[(job.width, job.height)])
        if opts.response_format is not None:
            body["response_format"] = opts.response_format
        if opts.seed_param is not None and seed is not None:
            body[opts.seed_param] = seed
        if opts.negative_prompt_param is not None and job.negative_prompt is not None:
            body[opts.negative_prompt_param] = job.negative_prompt
        if opts.steps_param is not None:
            body[opts.steps_param] = job.steps
        if opts.guidance_param is not None:
            body[opts.guidance_param] = job.guidance_scale
        return body

    async def _call(self, job: GenerationJob, n: int, seed: int | None) -> list[bytes]:
        if self._client is None:
            raise WorkerUnavailable("the hosted-API backend is not started")
        async with self._calls:
            try:
                response = await self._client.post("images/generations", json=self._body(job, n, seed))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise WorkerUnavailable(f"the images provider is unreachable: {exc}") from exc
            except httpx.TimeoutException as exc:
                raise WorkerTimeout(f"the images provider did not answer in time: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise WorkerUpstreamError(f"talking to the images provider failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise self._map_status(response)
        return self._images(response, n)

    def _redact(self, text: str) -> str:
        """``text`` with our API key masked (a provider may echo it in an error message, which
        would then reach the gateway, its client and the logs)."""
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def _map_status(self, response: httpx.Response) -> WorkerError:
        status = response.status_code
        message, param = _provider_error(response)
        message = self._redact(message)
        where = f"the images provider answered {status}"
        if 300 <= status < 400:
            target = response.headers.get("location", "?")
            return WorkerUpstreamError(f"{where} redirecting to {target}; redirects are not followed")
        if status == 429:
            retry = parse_retry_after(response.headers.get("retry-after"), self.options.default_retry_after_s)
            return WorkerOverloaded(f"{where} (rate limited): {message}", retry_after=retry)
        if status in (400, 422):
            field = _PARAM_FIELDS.get(param or "")
            return WorkerBadRequest(f"{where}, refusing the request: {message}", field=field, status=400)
        if status == 413:
            return WorkerPayloadTooLarge(f"{where}: {message}", field="prompt")
        if status == 503:
            retry_header = response.headers.get("retry-after")
            hint = parse_retry_after(retry_header, 0.0) if retry_header is not None else 0.0
            return WorkerUnavailable(f"{where}: {message}", retry_after=hint or None)
        if status == 504:
            return WorkerTimeout(f"{where}: {message}")
        return WorkerUpstreamError(f"{where}: {message}")

    def _images(self, response: httpx.Response, n: int) -> list[bytes]:
        try:
            data = response.json()["data"]
            encoded = [item["b64_json"] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise WorkerUpstreamError(
                "the images provider's answer has no data[].b64_json (set api.response_format: b64_json)"
            ) from exc
        if len(encoded) != n:
            raise WorkerUpstreamError(f"the images provider returned {len(encoded)} images for n={n}")
        out = []
        for item in encoded:
            try:
                raw = base64.b64decode(item, validate=True)
            except (binascii.Error, TypeError) as exc:
                raise WorkerUpstreamError("the images provider returned invalid base64") from exc
            out.append(raw if raw.startswith(PNG_MAGIC) else _to_png(raw))
        return out


def _provider_error(response: httpx.Response) -> tuple[str, str | None]:
    """(message, param) from an OpenAI-style error body, tolerating anything else."""
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict):
            return str(error.get("message") or response.reason_phrase), error.get("param")
        return str(error), None
    except (ValueError, AttributeError):
        return (response.text[:200] or response.reason_phrase), None


def _to_png(raw: bytes) -> bytes:
    """Re-encode a JPEG/WebP answer as PNG (the worker always returns PNG)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            return buf.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise WorkerUpstreamError("the images provider returned something that is not an image") from exc
