"""The bounded request queue in front of a backend, with dynamic batching.

Requests wait in FIFO order. A dispatcher task takes the oldest live request, then gathers queued
requests with the same :attr:`~routet2i.workers.backend.GenerationJob.batch_key` (same size,
steps, guidance, negative prompt presence) until the batch holds ``max_batch_images`` images or
``max_wait_ms`` has passed, and hands the batch to the backend as one call. While the backend is
busy (``max_concurrency`` calls in flight) requests accumulate, so batches grow with load.

A request whose caller went away (its future cancelled) or whose deadline passed leaves the queue
at once and is never generated. A full queue refuses new requests with
:class:`~routet2i.workers.errors.WorkerOverloaded`, whose ``retry_after`` estimates the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from routet2i.logs import REQUEST_ID
from routet2i.tasks import cancel_and_wait
from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult
from routet2i.workers.errors import WorkerError, WorkerOverloaded, WorkerTimeout, WorkerUnavailable
from routet2i.workers.metrics import WorkerMetrics
from routet2i.workers.settings import BatchingOptions, QueueOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    """What a request gets back: its images and how its batch went."""

    images: list[ImageResult]
    queue_s: float
    generate_s: float
    batch_images: int
    batch_requests: int


@dataclass(eq=False)
class Ticket:
    """A queued request: await it with :meth:`GenerationScheduler.result`, or withdraw it."""

    job: GenerationJob
    future: asyncio.Future[JobOutcome]
    enqueued: float
    deadline: float
    #: Why it was withdrawn (``cancelled``: the caller went away; ``deadline``: out of time).
    drop_reason: str | None = field(default=None)
    #: The id of the request that queued it (for the logs of its batch, which runs elsewhere).
    request_id: str | None = field(default_factory=REQUEST_ID.get)

    def live(self, now: float) -> bool:
        return not self.future.done() and now < self.deadline

    def withdraw(self, reason: str) -> None:
        """Take the request back; if it has not started it is never generated."""
        if not self.future.done():
            self.drop_reason = reason
            self.future.cancel()


def _batch_ids(batch: list[Ticket]) -> dict[str, Any]:
    """Log fields naming the requests of a batch (``request_id`` too when it serves one)."""
    ids = [t.request_id for t in batch]
    return {"request_ids": ids, "request_id": ids[0]} if len(ids) == 1 else {"request_ids": ids}


class GenerationScheduler:
    """Queue + dispatcher for one backend. Use :meth:`submit` then await :meth:`result`."""

    def __init__(
        self, backend: ImageBackend, batching: BatchingOptions, queue: QueueOptions, metrics: WorkerMetrics
    ) -> None:
        self.backend = backend
        self.batching = batching
        self.queue_options = queue
        self.metrics = metrics
        self._queue: deque[Ticket] = deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, backend.max_concurrency))
        self._running: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        #: Requests taken from the queue for the batch being formed.
        self._forming: list[Ticket] = []
        self._closed = False
        #: Moving average of backend seconds per image, for Retry-After estimates.
        self._seconds_per_image = 0.0

    # -- state -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def pending_images(self) -> int:
        return sum(p.job.n for p in self._queue)

    @property
    def running(self) -> int:
        return len(self._running)

    def retry_after(self) -> float:
        """Seconds a refused caller should wait: the queued images at the measured pace."""
        backlog = self.pending_images * self._seconds_per_image / max(1, self.backend.max_concurrency)
        return float(max(self.queue_options.min_retry_after_s, math.ceil(backlog)))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="routet2i-dispatcher")

    async def stop(self) -> None:
        """Refuse new work, fail queued requests with 503, wait for running batches."""
        self._closed = True
        await cancel_and_wait(self._dispatcher)
        leftovers = [*self._forming, *self._queue]
        self._forming = []
        self._queue.clear()
        for ticket in leftovers:
            if not ticket.future.done():
                ticket.future.set_exception(WorkerUnavailable("the worker is shutting down"))
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self.metrics.queue_depth.set(0)

    # -- requests ----------------------------------------------------------------------------

    def submit(self, job: GenerationJob, timeout_s: float) -> Ticket:
        """Queue ``job`` with ``timeout_s`` seconds to finish. Raises WorkerOverloaded when the
        queue is full and WorkerUnavailable once stopping."""
        if self._closed:
            raise WorkerUnavailable("the worker is shutting down")
        if len(self._queue) >= self.queue_options.max_pending:
            raise WorkerOverloaded(
                f"the queue is full ({self.queue_options.max_pending} requests waiting)",
                retry_after=self.retry_after(),
            )
        loop = asyncio.get_running_loop()
        now = loop.time()
        ticket = Ticket(job=job, future=loop.create_future(), enqueued=now, deadline=now + timeout_s)
        ticket.future.add_done_callback(lambda _f: self._on_done(ticket))
        self._queue.append(ticket)
        self.metrics.queue_depth.set(len(self._queue))
        self._arrived.set()
        return ticket

    async def result(self, ticket: Ticket) -> JobOutcome:
        """The ticket's outcome. Raises WorkerTimeout (and withdraws it) when its deadline
        passes first; if the awaiting task is cancelled (the caller went away) it withdraws the
        request too, so a request not yet started is never generated."""
        remaining = ticket.deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(ticket.future), timeout=max(0.0, remaining))
        except asyncio.TimeoutError:
            ticket.withdraw("deadline")
            raise WorkerTimeout(
                f"the request's deadline passed before it was done ({self.pending} requests queued)"
            ) from None
        except asyncio.CancelledError:
            ticket.withdraw("cancelled")
            raise

    def _on_done(self, ticket: Ticket) -> None:
        if not ticket.future.cancelled():
            return
        try:
            self._queue.remove(ticket)
        except ValueError:
            return  # already taken for a batch: the dispatcher drops it there
        self.metrics.dropped.labels(reason=ticket.drop_reason or "cancelled").inc()
        self.metrics.queue_depth.set(len(self._queue))

    # -- dispatcher --------------------------------------------------------------------------

    def _drop(self, ticket: Ticket) -> None:
        """Count and settle a ticket taken from the queue that must not run."""
        if ticket.future.cancelled():
            self.metrics.dropped.labels(reason=ticket.drop_reason or "cancelled").inc()
        elif not ticket.future.done():
            self.metrics.dropped.labels(reason="deadline").inc()
            ticket.future.set_exception(WorkerTimeout("the request's deadline passed while it was queued"))

    def _pop_live(self) -> Ticket | None:
        now = asyncio.get_running_loop().time()
        while self._queue:
            ticket = self._queue.popleft()
            if ticket.live(now):
                return ticket
            self._drop(ticket)
        return None

    def _take_compatible(self, batch: list[Ticket], images: int, limit: int) -> int:
        """Move queued requests compatible with ``batch[0]`` into ``batch`` while they fit."""
        key = batch[0].job.batch_key
        now = asyncio.get_running_loop().time()
        for ticket in list(self._queue):
            if images >= limit:
                break
            if ticket.live(now) and ticket.job.batch_key == key and images + ticket.job.n <= limit:
                self._queue.remove(ticket)
                batch.append(ticket)
                images += ticket.job.n
        return images

    async def _dispatch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        batchable = self.batching.enabled and self.backend.batchable
        limit = self.batching.max_batch_images
        while True:
            await self._slots.acquire()
            try:
                first = self._pop_live()
                while first is None:
                    self._arrived.clear()
                    await self._arrived.wait()
                    first = self._pop_live()
                self._forming = [first]
                images = first.job.n
                if batchable:
                    wait_until = loop.time() + self.batching.max_wait_ms / 1000.0
                    images = self._take_compatible(self._forming, images, limit)
                    while images < limit and (remaining := wait_until - loop.time()) > 0:
                        self._arrived.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
                        images = self._take_compatible(self._forming, images, limit)
                batch, self._forming = self._forming, []
                self.metrics.queue_depth.set(len(self._queue))
                now = loop.time()
                live = [t for t in batch if t.live(now)]
                for t in batch:
                    if not t.live(now):
                        self._drop(t)
            except BaseException:
                self._slots.release()
                raise
            if not live:
                self._slots.release()
                continue
            task = asyncio.create_task(self._run_batch(live), name="routet2i-batch")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: list[Ticket]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        images = sum(t.job.n for t in batch)
        t0 = time.perf_counter()
        try:
            results = await self.backend.generate([t.job for t in batch])
        except Exception as exc:
            if isinstance(exc, WorkerError):
                error: WorkerError = exc
            else:
                log.exception("generation failed for a batch of %d images", images, extra=_batch_ids(batch))
                error = WorkerError(f"generation failed: {type(exc).__name__}: {exc}")
            self.metrics.failed_batches.inc()
            for t in batch:
                if not t.future.done():
                    t.future.set_exception(error)
            return
        finally:
            self._slots.release()
        seconds = time.perf_counter() - t0
        self.metrics.observe_batch(images=images, requests=len(batch), seconds=seconds)
        per_image = seconds / max(1, images)
        if self._seconds_per_image == 0:
            self._seconds_per_image = per_image
        else:
            self._seconds_per_image = 0.3 * per_image + 0.7 * self._seconds_per_image
        for t, row in zip(batch, results, strict=True):
            if not t.future.done():
                t.future.set_result(
                    JobOutcome(
                        images=row,
                        queue_s=started - t.enqueued,
                        generate_s=seconds,
                        batch_images=images,
                        batch_requests=len(batch),
                    )
                )
