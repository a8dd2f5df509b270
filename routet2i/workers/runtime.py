"""The live state of one worker app: backend, scheduler, metrics, and the load/ready lifecycle.

Created by :func:`~routet2i.workers.app.create_app` and kept on ``app.state.runtime``; the app's
lifespan starts and stops it. The model loads in the background, so ``/healthz`` answers at once
and ``/readyz`` turns 200 only once the model is loaded and warmed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from routet2i.tasks import cancel_and_wait
from routet2i.workers.backend import GenerationJob, ImageBackend
from routet2i.workers.errors import WorkerUnavailable
from routet2i.workers.metrics import WorkerMetrics
from routet2i.workers.scheduler import GenerationScheduler
from routet2i.workers.settings import WorkerSettings

log = logging.getLogger(__name__)

State = Literal["created", "loading", "ready", "failed", "stopped"]

#: Retry-After (seconds) suggested while the model is still loading.
LOADING_RETRY_AFTER_S = 5.0


class WorkerRuntime:
    """Owns the backend and the scheduler of one worker app."""

    def __init__(self, settings: WorkerSettings, backend: ImageBackend) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = WorkerMetrics(settings.model_name)
        self.scheduler: GenerationScheduler | None = None
        self.state: State = "created"
        self.error: str | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the scheduler and begin loading the model in the background."""
        self.scheduler = GenerationScheduler(self.backend, self.settings.batching, self.settings.queue, self.metrics)
        self.state = "loading"
        self._settled.clear()
        self._load_task = asyncio.create_task(self._load(), name="routet2i-load")

    async def stop(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            await cancel_and_wait(self._load_task)
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.backend.close()
        self.state = "stopped"
        self.metrics.ready.set(0)
        self._settled.set()

    async def _load(self) -> None:
        try:
            await self.backend.start(self.warmup_job() if self.settings.warmup else None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.state = "failed"
            self.error = f"{type(exc).__name__}: {exc}"
            # one line; the traceback only at debug level (`--log-level debug`)
            log.error("loading %s failed: %s", self.settings.model, self.error)
            log.debug("loading %s failed", self.settings.model, exc_info=True)
        else:
            assert self.scheduler is not None
            self.scheduler.start()
            self.state = "ready"
            self.metrics.ready.set(1)
            log.info("worker ready: %s", self.settings.model_name)
        finally:
            self._settled.set()

    def warmup_job(self) -> GenerationJob:
        """One image at the default size with the fewest steps the model allows."""
        d = self.settings.defaults
        return GenerationJob(
            prompt="a photograph of a lighthouse at dawn",
            negative_prompt=d.negative_prompt,
            width=d.width,
            height=d.height,
            steps=self.settings.limits.min_steps,
            guidance_scale=d.guidance_scale,
            seeds=(0,),
        )

    async def wait_settled(self) -> State:
        """Wait until loading finished (``ready``) or failed (``failed``); returns the state."""
        await self._settled.wait()
        return self.state

    # -- checks ------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def require_ready(self) -> GenerationScheduler:
        """The scheduler, or WorkerUnavailable while loading / after a failed load / stopping."""
        if self.state == "ready" and self.scheduler is not None:
            return self.scheduler
        if self.state == "failed":
            raise WorkerUnavailable(f"the model failed to load: {self.error}")
        if self.state == "loading":
            raise WorkerUnavailable("the model is still loading", retry_after=LOADING_RETRY_AFTER_S)
        raise WorkerUnavailable(f"the worker is {self.state}")
