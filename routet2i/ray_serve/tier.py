"""One tier's image worker as a Ray Serve deployment (one replica = one worker = one model copy).

Each replica runs the worker service's own app (:func:`routet2i.workers.app.create_app`): its
backend loading (diffusers pipeline or hosted images API, from the same worker YAML as
``routet2i worker``), its limits and validation, its deadline handling and its dynamic batching
scheduler (:mod:`routet2i.workers.scheduler`), called in-process through an ASGI transport, as
``routet2i serve`` embeds its workers. The replica's constructor returns only once the model has
loaded and warmed, so Serve routes nothing to a replica before it can generate, and autoscaling
adds replicas that are ready when they join.

Batching: the worker's scheduler batches the requests that are ongoing at the replica, so a
deployment's ``max_ongoing_requests`` should be at least twice the worker's
``batching.max_batch_images`` (one batch generating, the next one forming), and the worker's
``queue.max_pending`` at least ``max_ongoing_requests`` (Serve queues the rest in front of the
replicas, bounded by ``max_queued_requests``, where the autoscaler sees them). The worker's
scheduler rather than ``@serve.batch``: it forms the next batch while one generates and groups
compatible requests across the queue (measured faster on the tiny pipelines, 1.1-1.6x, see
``deploy/ray/serve.yaml``), and it keeps the worker's deadlines, cancellation and Retry-After.

Resources (``num_gpus``, ``num_cpus``), replica bounds, ``target_ongoing_requests`` and
back-pressure come from the Serve config (``deploy/ray/serve.yaml``), not from here.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from fastapi import FastAPI
from ray import serve

from routet2i.logs import REQUEST_ID
from routet2i.workers.app import create_app
from routet2i.workers.client import WorkerClient
from routet2i.workers.runtime import WorkerRuntime
from routet2i.workers.schemas import GenerateRequest, GenerateResponse
from routet2i.workers.settings import WorkerSettings

log = logging.getLogger(__name__)


def demo_worker_settings(tier: str) -> WorkerSettings:
    """``tier``'s tiny random-weight demo pipeline, built on this node (seeded, so every replica
    builds the same one) with its worker settings (``routet2i worker --demo``)."""
    from routet2i.testing.demo import build_demo_worker

    root = Path(tempfile.mkdtemp(prefix=f"routet2i-ray-demo-{tier}-"))
    return WorkerSettings.load(build_demo_worker(root, tier))


class TierWorker:
    """A replica serving one tier's model. ``settings``: the worker's settings (the same YAML as
    ``routet2i worker``); ``demo``: build the tiny demo pipeline of ``tier`` instead."""

    # Serve awaits an async constructor, and routes to the replica only once it has returned
    async def __init__(self, tier: str, settings: WorkerSettings | None = None, demo: bool = False) -> None:  # type: ignore[misc]
        if settings is None:
            if not demo:
                raise ValueError(f"tier {tier!r}: give worker settings or demo=True")
            settings = demo_worker_settings(tier)
        self.tier = tier
        self.settings = settings
        self.app: FastAPI = create_app(settings)
        self._lifespan: AbstractAsyncContextManager[object] | None = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        state = await self.runtime.wait_settled()
        if state != "ready":
            await self._close()
            raise RuntimeError(f"the {tier} model did not load: {self.runtime.error or state}")
        self.client = WorkerClient(
            f"http://{tier}.replica",
            timeout=settings.queue.default_timeout_s,
            connect_retries=0,
            max_connections=1 << 16,  # in-process: the pool only bounds concurrency, Serve does that
            transport=httpx.ASGITransport(app=self.app),
        )
        log.info("tier %s replica ready: %s", tier, settings.model_name)

    @property
    def runtime(self) -> WorkerRuntime:
        runtime: WorkerRuntime = self.app.state.runtime
        return runtime

    async def generate(self, request: GenerateRequest, timeout_s: float, request_id: str | None) -> GenerateResponse:
        """The worker's answer to ``request`` within ``timeout_s`` seconds (its queue drops it
        after that), or the worker's typed error. ``request_id``: carried by the worker's logs."""
        token = REQUEST_ID.set(request_id)
        try:
            return await self.client.generate(request, timeout=timeout_s)
        finally:
            REQUEST_ID.reset(token)

    async def why_not_ready(self) -> str | None:
        """The worker's own readiness (None: loaded and serving)."""
        return await self.client.why_not_ready()

    def check_health(self) -> None:
        """Serve's periodic check: a replica whose worker stopped or failed is replaced."""
        if not self.runtime.ready:
            raise RuntimeError(f"the {self.tier} worker is {self.runtime.state}: {self.runtime.error}")

    async def __del__(self) -> None:
        """Serve's shutdown of the replica: stop the worker (queued requests get 503)."""
        await self._close()

    async def _close(self) -> None:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)
        client = getattr(self, "client", None)
        if client is not None:
            await client.aclose()


#: The deployment (bound once per tier, named after it). Applied here, after the class exists, so
#: the class pickles by reference (module + name) rather than by value.
TierDeployment = serve.deployment(
    name="tier",
    # defaults only: the Serve config (deploy/ray/serve.yaml) sets each tier's own
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=8,
    max_queued_requests=64,
    health_check_period_s=5,
    graceful_shutdown_timeout_s=30,
)(TierWorker)
