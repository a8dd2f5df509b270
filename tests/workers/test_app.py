"""The worker app over a real socket, with a gated test-double backend so the queue can be
filled on purpose: overflow (429 + Retry-After), clients that go away, deadlines, readiness,
and error mapping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routet2i.workers.app import create_app
from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import WorkerOverloaded, WorkerTimeout, WorkerUnavailable
from routet2i.workers.schemas import GenerateRequest
from tests.workers.fakes import RecordingBackend
from tests.workers.harness import ServerThread, tiny_settings, wait_ready


def _serve(backend: RecordingBackend, **overrides: Any) -> ServerThread:
    settings = tiny_settings("unused", queue={"max_pending": 1, "default_timeout_s": 30}, **overrides)
    return ServerThread(create_app(settings, backend=backend))


@pytest.fixture
def gated() -> Iterator[tuple[RecordingBackend, str]]:
    backend = RecordingBackend()
    with _serve(backend, batching={"enabled": True, "max_wait_ms": 0}) as server:
        wait_ready(server.url)
        yield backend, server.url
        backend.gate.set()


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def _is_pending(http: httpx.AsyncClient, n: int) -> bool:
    return int((await http.get("/v1/info")).json()["queue"]["pending"]) == n


async def _generating(backend: RecordingBackend) -> bool:
    return bool(backend.calls)


async def test_full_queue_answers_429_with_retry_after(gated: tuple[RecordingBackend, str]) -> None:
    backend, url = gated
    backend.gate.clear()
    async with WorkerClient(url) as worker, httpx.AsyncClient(base_url=url) as http:
        running = asyncio.create_task(worker.generate(GenerateRequest(prompt="running")))
        await _until(lambda: _generating(backend))
        queued = asyncio.create_task(worker.generate(GenerateRequest(prompt="queued")))
        await _until(lambda: _is_pending(http, 1))
        refused = await http.post("/v1/generate", json={"prompt": "refused"})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["type"] == "overloaded"
        with pytest.raises(WorkerOverloaded) as caught:
            await worker.generate(GenerateRequest(prompt="refused too"))
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        backend.gate.set()
        await asyncio.gather(running, queued)
    assert backend.prompts == ["running", "queued"]


async def test_request_whose_client_went_away_is_not_generated(gated: tuple[RecordingBackend, str]) -> None:
    backend, url = gated
    backend.gate.clear()
    async with httpx.AsyncClient(base_url=url) as http:
        running = asyncio.create_task(http.post("/v1/generate", json={"prompt": "running"}))
        await _until(lambda: _generating(backend))
        async with httpx.AsyncClient(base_url=url) as leaving:
            doomed = asyncio.create_task(leaving.post("/v1/generate", json={"prompt": "abandoned"}))
            await _until(lambda: _is_pending(http, 1))
            doomed.cancel()  # the client hangs up: its connection closes
            with pytest.raises(asyncio.CancelledError):
                await doomed
        await _until(lambda: _is_pending(http, 0))
        backend.gate.set()
        assert (await running).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert backend.prompts == ["running"]
    assert 'routet2i_worker_dropped_total{model="tiny",reason="cancelled"} 1.0' in metrics


async def test_request_past_its_deadline_is_dropped_with_504(gated: tuple[RecordingBackend, str]) -> None:
    backend, url = gated
    backend.gate.clear()
    async with WorkerClient(url) as worker, httpx.AsyncClient(base_url=url) as http:
        running = asyncio.create_task(http.post("/v1/generate", json={"prompt": "running"}))
        await _until(lambda: _generating(backend))
        late = await http.post("/v1/generate", json={"prompt": "late"}, headers={"X-Request-Timeout": "0.2"})
        assert late.status_code == 504 and late.json()["error"]["type"] == "timeout"
        # The client sends its own timeout as the deadline, and maps 504 to WorkerTimeout.
        with pytest.raises(WorkerTimeout):
            await worker.generate(GenerateRequest(prompt="late too"), timeout=0.3)
        backend.gate.set()
        assert (await running).status_code == 200
    assert backend.prompts == ["running"]


async def test_ready_only_after_load_and_503_while_loading() -> None:
    backend = RecordingBackend()
    backend.load_gate.clear()
    with _serve(backend) as server:
        async with WorkerClient(server.url) as worker, httpx.AsyncClient(base_url=server.url) as http:
            assert await worker.health() and not await worker.ready()
            loading = await http.post("/v1/generate", json={"prompt": "too early"})
            assert loading.status_code == 503 and "Retry-After" in loading.headers
            with pytest.raises(WorkerUnavailable):
                await worker.generate(GenerateRequest(prompt="too early"))
            assert (await worker.info()).ready is False
            backend.load_gate.set()
            await _until(worker.ready)
            assert len((await worker.generate(GenerateRequest(prompt="now", n=2))).images) == 2
    assert backend.closed  # the lifespan closed the backend on shutdown


async def test_failed_load_is_reported_by_health_and_ready() -> None:
    backend = RecordingBackend(fail_load=OSError("no such model: stabilityai/sd-nope"))
    with _serve(backend) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            await _until(lambda: _status_is(http, 503))
            health = (await http.get("/healthz")).json()
            ready = await http.get("/readyz")
            generate = await http.post("/v1/generate", json={"prompt": "x"})
    assert health["status"] == "failed" and "sd-nope" in health["error"]
    assert ready.status_code == 503
    assert generate.status_code == 503 and "sd-nope" in generate.json()["error"]["message"]


async def _status_is(http: httpx.AsyncClient, status: int) -> bool:
    return (await http.get("/healthz")).status_code == status


async def test_generation_failure_is_a_json_500_and_the_worker_recovers() -> None:
    backend = RecordingBackend(fail_generate=RuntimeError("CUDA out of memory"))
    with _serve(backend) as server:
        wait_ready(server.url)
        async with httpx.AsyncClient(base_url=server.url) as http:
            failed = await http.post("/v1/generate", json={"prompt": "x"})
            backend.fail_generate = None
            ok = await http.post("/v1/generate", json={"prompt": "y", "seed": 5})
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "generation_error" and "out of memory" in failed.json()["error"]["message"]
    assert ok.status_code == 200 and ok.json()["images"][0]["seed"] == 5
