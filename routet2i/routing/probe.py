"""One health check of one worker, with the rules every health check shares (a tier's, a replica's)."""

from __future__ import annotations

import asyncio

from routet2i.routing.ports import ImageWorker, ReadinessProbe
from routet2i.workers import errors as werr


async def why_not_ready(worker: ImageWorker) -> str | None:
    """The worker's reason for not being ready (None: ready); a plain ``ready()`` says only that."""
    if isinstance(worker, ReadinessProbe):
        return await worker.why_not_ready()
    return None if await worker.ready() else "the worker is not ready"


async def health_check(worker: ImageWorker, timeout_s: float) -> werr.WorkerError | None:
    """Probe ``worker`` within ``timeout_s`` seconds: None when it is ready, else the failure as a
    worker error (its own; :class:`~routet2i.workers.errors.WorkerTimeout` for no answer or a
    broken connection; :class:`~routet2i.workers.errors.WorkerUnavailable` for "not ready")."""
    try:
        reason = await asyncio.wait_for(why_not_ready(worker), timeout_s)
    except werr.WorkerError as exc:
        return exc
    except (asyncio.TimeoutError, OSError) as exc:
        timed_out = isinstance(exc, asyncio.TimeoutError) or not str(exc)
        what = f"no answer within {timeout_s:g} s" if timed_out else str(exc)
        return werr.WorkerTimeout(f"health check: {what} ({type(exc).__name__})")
    return None if reason is None else werr.WorkerUnavailable(f"health check: {reason}")
