"""WorkerClient: retries only where no work can be duplicated, typed errors for every status."""

from __future__ import annotations

import json

import httpx
import pytest

from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import (
    WorkerBadRequest,
    WorkerError,
    WorkerOverloaded,
    WorkerPayloadTooLarge,
    WorkerTimeout,
    WorkerUnavailable,
    WorkerUpstreamError,
)
from routet2i.workers.schemas import GenerateRequest
from tests.workers.harness import free_port

OK_BODY = {
    "images": [{"b64_png": "iVBORw0KGgo=", "seed": 3}],
    "model": "m",
    "parameters": {"width": 64, "height": 64, "steps": 1, "guidance_scale": 0.0},
    "timings": {"queue_ms": 1, "generate_ms": 2, "total_ms": 3, "batch_images": 1, "batch_requests": 1},
}


def client_with(handler: httpx.MockTransport) -> WorkerClient:
    return WorkerClient("http://worker", transport=handler, retry_backoff=0.001)


async def test_connect_errors_are_retried_then_succeed() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=OK_BODY)

    async with client_with(httpx.MockTransport(handle)) as worker:
        response = await worker.generate(GenerateRequest(prompt="a cat", seed=3), timeout=12.5)
    assert response.images[0].seed == 3 and len(seen) == 3
    assert seen[0].headers["X-Request-Timeout"] == "12.500"
    assert json.loads(seen[0].content) == {"prompt": "a cat", "seed": 3}  # only the fields the caller set


async def test_read_timeout_is_not_retried() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    async with client_with(httpx.MockTransport(handle)) as worker:
        with pytest.raises(WorkerTimeout):
            await worker.generate(GenerateRequest(prompt="a cat"))
    assert len(seen) == 1  # the worker may be generating: a retry would pay twice


async def test_dropped_connection_after_sending_is_not_retried() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    async with client_with(httpx.MockTransport(handle)) as worker:
        with pytest.raises(WorkerError):
            await worker.generate(GenerateRequest(prompt="a cat"))
    assert len(seen) == 1


async def test_refused_connection_is_unavailable_and_probes_say_false() -> None:
    async with WorkerClient(f"http://127.0.0.1:{free_port()}", connect_retries=1, retry_backoff=0.001) as worker:
        with pytest.raises(WorkerUnavailable):
            await worker.generate(GenerateRequest(prompt="a cat"))
        assert not await worker.health()
        assert not await worker.ready()


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (422, {"error": {"type": "invalid_request", "message": "bad", "field": "width"}}, {}, WorkerBadRequest),
        (400, {"error": {"type": "invalid_request", "message": "refused"}}, {}, WorkerBadRequest),
        (413, {"error": {"type": "payload_too_large", "message": "big"}}, {}, WorkerPayloadTooLarge),
        (429, {"error": {"type": "overloaded", "message": "full"}}, {"Retry-After": "7"}, WorkerOverloaded),
        (502, {"error": {"type": "upstream_error", "message": "provider"}}, {}, WorkerUpstreamError),
        (503, {"error": {"type": "unavailable", "message": "loading"}}, {"Retry-After": "5"}, WorkerUnavailable),
        (504, {"error": {"type": "timeout", "message": "late"}}, {}, WorkerTimeout),
        (500, {"error": {"type": "generation_error", "message": "oom"}}, {}, WorkerError),
        (500, "<html>proxy error</html>", {}, WorkerError),
    ],
)
async def test_status_maps_to_typed_exception(
    status: int, body: object, headers: dict[str, str], expected: type[WorkerError]
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    async with client_with(httpx.MockTransport(handle)) as worker:
        with pytest.raises(WorkerError) as caught:
            await worker.generate(GenerateRequest(prompt="a cat"))
    assert type(caught.value) is expected and caught.value.status == status
    if status == 422:
        assert caught.value.field == "width"
    if status == 429:
        assert caught.value.retry_after == 7.0
    if status == 503:
        assert caught.value.retry_after == 5.0


async def test_malformed_success_body_is_a_worker_error() -> None:
    async with client_with(httpx.MockTransport(lambda r: httpx.Response(200, json={"images": "?"}))) as worker:
        with pytest.raises(WorkerError):
            await worker.generate(GenerateRequest(prompt="a cat"))
