"""Reaching a tier for generation: a running worker by URL, or a worker config loaded in-process.

Either way the run talks to a :class:`~routet2i.workers.client.WorkerClient`, so it gets the same
typed errors, defaults, limits, batching and seeds:

- ``http://host:port`` (or ``https://``): a worker started elsewhere (``routet2i worker``); the
  run waits until its ``/readyz`` answers 200.
- a YAML path (``configs/edge-sd-turbo.yaml``): the worker service's own app
  (:func:`routet2i.workers.app.create_app`, which loads the backend the config names) runs inside
  this process and is called through an in-process ASGI transport; its lifespan loads the model
  and the run waits until it is loaded and warmed. ``ROUTET2I_WORKER_*`` environment overrides of worker
  settings apply to every in-process worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routet2i.errors import ConfigError, Routet2iError
from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import WorkerError
from routet2i.workers.schemas import WorkerInfo

#: The request fields a run may set per tier (``--edge-param steps=2``), with their types.
PARAMETER_TYPES: dict[str, type] = {
    "width": int,
    "height": int,
    "steps": int,
    "guidance_scale": float,
    "negative_prompt": str,
}


@dataclass
class TierEndpoint:
    """An open tier: its client, what it says about itself, and where it came from."""

    tier: str
    source: str
    in_process: bool
    client: WorkerClient
    info: WorkerInfo

    @property
    def model(self) -> str:
        return self.info.model

    @property
    def seeded(self) -> bool:
        """Whether the backend honours seeds (a hosted API may not)."""
        return "seed" in self.info.supported_fields

    def effective_parameters(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The generation parameters requests will run with: the worker's defaults, overridden."""
        params = {k: self.info.defaults.get(k) for k in PARAMETER_TYPES}
        params.update(overrides)
        return params


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def parse_parameters(pairs: list[str], flag: str) -> dict[str, Any]:
    """``["steps=2", "guidance_scale=0"]`` → ``{"steps": 2, "guidance_scale": 0.0}``; an unknown
    key or a value of the wrong type is a :class:`ConfigError` naming ``flag``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in PARAMETER_TYPES:
            raise ConfigError(f"{flag} {pair!r}: expected KEY=VALUE with KEY one of {', '.join(PARAMETER_TYPES)}")
        kind = PARAMETER_TYPES[key]
        try:
            out[key] = kind(value) if kind is str else kind(value.strip())
        except ValueError:
            raise ConfigError(f"{flag} {pair!r}: {key} must be {kind.__name__}") from None
    return out


@asynccontextmanager
async def open_tier(tier: str, source: str, *, timeout_s: float, ready_timeout_s: float) -> AsyncIterator[TierEndpoint]:
    """Open ``source`` (a worker URL or a worker config path) for ``tier`` and wait until it is
    ready; raises :class:`~routet2i.errors.Routet2iError` when it never gets there."""
    if is_url(source):
        async with WorkerClient(source, timeout=timeout_s) as client:
            await _wait_ready_url(tier, source, client, ready_timeout_s)
            yield TierEndpoint(tier, source, False, client, await _info(tier, client))
        return
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"--{tier} {source!r}: neither a worker URL (http://host:port) nor a worker config file")
    async with _in_process(tier, path, timeout_s=timeout_s, ready_timeout_s=ready_timeout_s) as client:
        yield TierEndpoint(tier, str(path), True, client, await _info(tier, client))


async def _info(tier: str, client: WorkerClient) -> WorkerInfo:
    try:
        return await client.info()
    except WorkerError as exc:
        raise Routet2iError(f"{tier} worker {client.base_url}: /v1/info failed: {exc}") from exc


async def _wait_ready_url(tier: str, url: str, client: WorkerClient, ready_timeout_s: float) -> None:
    deadline = time.monotonic() + ready_timeout_s
    delay = 0.1
    while not await client.ready():
        if time.monotonic() >= deadline:
            state = "answers but is not ready" if await client.health() else "is unreachable"
            raise Routet2iError(f"{tier} worker {url} {state} after {ready_timeout_s:g} s (see its /readyz)")
        await asyncio.sleep(delay)
        delay = min(2.0, delay * 1.5)


@asynccontextmanager
async def _in_process(
    tier: str, path: Path, *, timeout_s: float, ready_timeout_s: float
) -> AsyncIterator[WorkerClient]:
    import httpx

    from routet2i.workers.app import create_app
    from routet2i.workers.settings import WorkerSettings

    settings = WorkerSettings.load(path)
    app = create_app(settings)
    runtime = app.state.runtime
    async with app.router.lifespan_context(app):
        try:
            state = await asyncio.wait_for(runtime.wait_settled(), timeout=ready_timeout_s)
        except asyncio.TimeoutError:
            raise Routet2iError(f"{tier} worker ({path}): the model did not load in {ready_timeout_s:g} s") from None
        if state != "ready":
            raise Routet2iError(f"{tier} worker ({path}): the model failed to load: {runtime.error}")
        transport = httpx.ASGITransport(app=app)
        async with WorkerClient(f"http://{tier}.in-process", timeout=timeout_s, transport=transport) as client:
            yield client
