"""Unit tests of the queue and the dynamic batcher (with a recording test-double backend)."""

from __future__ import annotations

import asyncio

import pytest

from routet2i.workers.backend import GenerationJob
from routet2i.workers.errors import WorkerOverloaded, WorkerTimeout, WorkerUnavailable
from routet2i.workers.metrics import WorkerMetrics
from routet2i.workers.scheduler import GenerationScheduler
from routet2i.workers.settings import BatchingOptions, QueueOptions
from tests.workers.fakes import RecordingBackend


def job(prompt: str, n: int = 1, width: int = 64, guidance: float = 0.0, negative: str | None = None) -> GenerationJob:
    return GenerationJob(
        prompt=prompt,
        negative_prompt=negative,
        width=width,
        height=64,
        steps=2,
        guidance_scale=guidance,
        seeds=tuple(range(n)),
    )


def scheduler(
    backend: RecordingBackend, *, enabled: bool = True, max_images: int = 4, wait_ms: float = 50, max_pending: int = 16
) -> GenerationScheduler:
    return GenerationScheduler(
        backend,
        BatchingOptions(enabled=enabled, max_batch_images=max_images, max_wait_ms=wait_ms),
        QueueOptions(max_pending=max_pending),
        WorkerMetrics("test"),
    )


def dropped(s: GenerationScheduler, reason: str) -> float:
    return (
        s.metrics.registry.get_sample_value("routet2i_worker_dropped_total", {"model": "test", "reason": reason}) or 0.0
    )


async def test_compatible_jobs_share_calls_up_to_the_image_limit() -> None:
    backend = RecordingBackend()
    s = scheduler(backend, max_images=4)
    tickets = [s.submit(job(f"p{i}", n=2), timeout_s=10) for i in range(5)]
    s.start()
    outcomes = [await s.result(t) for t in tickets]
    await s.stop()
    assert [sum(j.n for j in call) for call in backend.calls] == [4, 4, 2]
    assert [len(o.images) for o in outcomes] == [2] * 5
    assert outcomes[0].batch_images == 4 and outcomes[0].batch_requests == 2
    assert [im.seed for im in outcomes[3].images] == [0, 1]


async def test_incompatible_jobs_never_share_a_call() -> None:
    backend = RecordingBackend()
    s = scheduler(backend, max_images=8)
    jobs = [job("a"), job("b", width=96), job("c"), job("d", guidance=5.0), job("e", guidance=5.0, negative="x")]
    tickets = [s.submit(j, timeout_s=10) for j in jobs]
    s.start()
    for t in tickets:
        await s.result(t)
    await s.stop()
    assert sorted(sorted(j.prompt for j in call) for call in backend.calls) == [["a", "c"], ["b"], ["d"], ["e"]]


async def test_batching_off_runs_one_request_per_call() -> None:
    backend = RecordingBackend()
    s = scheduler(backend, enabled=False)
    tickets = [s.submit(job(f"p{i}", n=2), timeout_s=10) for i in range(3)]
    s.start()
    for t in tickets:
        await s.result(t)
    await s.stop()
    assert [[j.prompt for j in call] for call in backend.calls] == [["p0"], ["p1"], ["p2"]]


async def test_withdrawn_and_expired_requests_are_never_generated() -> None:
    backend = RecordingBackend()
    s = scheduler(backend, wait_ms=0)
    keep = s.submit(job("keep"), timeout_s=10)
    gone = s.submit(job("gone"), timeout_s=10)
    late = s.submit(job("late"), timeout_s=0.01)
    gone.withdraw("cancelled")
    await asyncio.sleep(0)
    assert s.pending == 2  # the withdrawn request left the queue
    await asyncio.sleep(0.05)
    s.start()
    await s.result(keep)
    with pytest.raises(WorkerTimeout):
        await s.result(late)
    await s.stop()
    assert backend.prompts == ["keep"]
    assert dropped(s, "cancelled") == 1 and dropped(s, "deadline") == 1


async def test_cancelled_waiter_withdraws_its_request() -> None:
    backend = RecordingBackend()
    backend.gate.clear()
    s = scheduler(backend, wait_ms=0)
    s.start()
    first = s.submit(job("first"), timeout_s=10)
    while not backend.calls:
        await asyncio.sleep(0.01)
    second = s.submit(job("second"), timeout_s=10)
    waiter = asyncio.create_task(s.result(second))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    backend.gate.set()
    await s.result(first)
    await s.stop()
    assert backend.prompts == ["first"] and dropped(s, "cancelled") == 1


async def test_full_queue_refuses_with_retry_after() -> None:
    s = scheduler(RecordingBackend(), max_pending=2)
    s.submit(job("a"), timeout_s=10)
    s.submit(job("b"), timeout_s=10)
    with pytest.raises(WorkerOverloaded) as caught:
        s.submit(job("c"), timeout_s=10)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    await s.stop()


async def test_stop_fails_queued_requests_as_unavailable() -> None:
    s = scheduler(RecordingBackend())
    ticket = s.submit(job("a"), timeout_s=10)
    await s.stop()
    with pytest.raises(WorkerUnavailable):
        await s.result(ticket)
    with pytest.raises(WorkerUnavailable):
        s.submit(job("b"), timeout_s=10)


async def test_backend_failure_fails_the_batch_and_the_next_batch_runs() -> None:
    backend = RecordingBackend(fail_generate=RuntimeError("CUDA out of memory"))
    s = scheduler(backend, wait_ms=0)
    s.start()
    with pytest.raises(Exception, match="CUDA out of memory"):
        await s.result(s.submit(job("a"), timeout_s=10))
    backend.fail_generate = None
    outcome = await s.result(s.submit(job("b"), timeout_s=10))
    await s.stop()
    assert len(outcome.images) == 1
