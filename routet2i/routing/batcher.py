"""Micro-batching of router predictions across concurrent requests, off the event loop.

One thread owns the model (:class:`PredictorPort.predict` is only ever called from it). Requests
queue their prompts; a collector task takes everything queued, runs it as one batch on that
thread, and resolves each request's future. While a batch runs, new requests queue up and form
the next batch, so under load batches grow and throughput rises instead of requests being served
one at a time. A lone request never waits for company; once the last batch had more than one
request (i.e. there is concurrency), a batch waits up to ``max_wait_ms`` to fill to ``max_batch``.

:meth:`MicroBatcher.swap_engine` replaces the engine (a hot reload of the router): a batch reads
the engine reference once, when it starts, so no batch mixes two engines; the batch running
during a swap finishes on the old one, the next one runs on the new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from routet2i.routing.ports import PredictorPort
from routet2i.tasks import cancel_and_wait
from routet2i.types import Prediction

#: Called after each batch with (prompts in it, requests in it, seconds the model took).
BatchObserver = Callable[[int, int, float], None]


@dataclass(eq=False)
class _Item:
    prompts: list[str]
    future: asyncio.Future[list[Prediction]] = field(repr=False)


class MicroBatcher:
    """Runs ``engine.predict`` on micro-batches; see the module docstring. Use as
    ``await start()`` … ``await stop()`` inside one event loop."""

    def __init__(
        self,
        engine: PredictorPort,
        *,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be ≥ 1, got {max_batch}")
        self._engine = engine
        self._max_batch = max_batch
        self._max_wait = max(max_wait_ms, 0.0) / 1000.0
        self._observer = observer
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last_batch_requests = 0

    @property
    def engine(self) -> PredictorPort:
        return self._engine

    def swap_engine(self, engine: PredictorPort) -> PredictorPort:
        """Run the next batches on ``engine`` (call from the event loop); returns the old one."""
        old, self._engine = self._engine, engine
        return old

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routet2i-router")
        self._task = asyncio.create_task(self._collect(), name="routet2i-router-batcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._queue is not None:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if not item.future.done():
                    item.future.set_exception(RuntimeError("the router is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def predict(self, prompts: list[str]) -> list[Prediction]:
        """Predictions for ``prompts`` (in order), batched with whatever else is queued.
        Cancelling the caller (e.g. its deadline) leaves the batch running for the others."""
        if not self.running or self._queue is None:
            raise RuntimeError("the router batcher is not running")
        if not prompts:
            return []
        future: asyncio.Future[list[Prediction]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(list(prompts), future))
        return await future

    async def _collect(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            items = [await queue.get()]
            size = len(items[0].prompts)
            deadline = loop.time() + (self._max_wait if self._last_batch_requests > 1 else 0.0)
            while size < self._max_batch:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                else:
                    item = queue.get_nowait()
                items.append(item)
                size += len(item.prompts)
            items = [i for i in items if not i.future.done()]
            if not items:
                continue
            self._last_batch_requests = len(items)
            await self._run(items, loop)

    async def _run(self, items: list[_Item], loop: asyncio.AbstractEventLoop) -> None:
        prompts = [p for item in items for p in item.prompts]
        engine = self._engine  # read once: the whole batch runs on one engine, even across a swap
        t0 = time.perf_counter()
        try:
            predictions = await loop.run_in_executor(self._executor, engine.predict, prompts)
            if len(predictions) != len(prompts):
                raise RuntimeError(f"the router returned {len(predictions)} predictions for {len(prompts)} prompts")
        except Exception as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if self._observer is not None:
            self._observer(len(prompts), len(items), time.perf_counter() - t0)
        start = 0
        for item in items:
            end = start + len(item.prompts)
            if not item.future.done():
                item.future.set_result(predictions[start:end])
            start = end
