"""One tier-client interface, two implementations, one contract battery.

The gateway calls a tier through :class:`~routet2i.routing.ports.ImageWorker`: over HTTP
(:class:`~routet2i.workers.client.WorkerClient`, here against a real worker app on a socket) or
through a Serve ``DeploymentHandle`` (:class:`~routet2i.ray_serve.tier_client.ServeTierClient`,
here against the tier deployment on a local Ray cluster). Both serve the same tiny SD pipeline
with the same worker settings, and every check runs against both: images come back, a bad
request is WorkerBadRequest naming the field, overload is WorkerOverloaded with a Retry-After, a
deadline is WorkerTimeout, ready() and why_not_ready(), a tier that is gone is WorkerUnavailable.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from routet2i.config import validate_or_explain
from routet2i.routing.ports import ImageWorker, ReadinessProbe
from routet2i.workers.app import create_app
from routet2i.workers.client import PNG_B64_PREFIX, WorkerClient
from routet2i.workers.errors import WorkerBadRequest, WorkerOverloaded, WorkerTimeout, WorkerUnavailable
from routet2i.workers.schemas import GenerateRequest
from routet2i.workers.settings import WorkerSettings
from tests.ray_serve.conftest import local_serve, tiny_tier_settings
from tests.workers.harness import ServerThread, free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.ray]

IMPLEMENTATIONS = ("http", "ray")
#: The Serve deployment's back-pressure Retry-After (seconds), as a Serve config would set it.
SERVE_RETRY_AFTER_S = 3.0
#: A request that keeps the tiny pipeline busy for a while (4 images of 128 px, 4 steps).
SLOW = {"width": 128, "height": 128, "steps": 4, "n": 4}


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from routet2i.testing.pipelines import save_tiny_pipeline

    return Path(save_tiny_pipeline("sd", tmp_path_factory.mktemp("tiny-sd")))


@pytest.fixture(scope="module")
def settings(tiny_sd: Path) -> WorkerSettings:
    """One request generating at a time and one waiting (no batching): a third is overload."""
    data = tiny_tier_settings(tiny_sd, "tiny-contract", "edge", queue={"max_pending": 1}, batching={"enabled": False})
    return validate_or_explain(WorkerSettings, data, "tests")


@pytest.fixture(scope="module")
def http_worker(settings: WorkerSettings) -> Iterator[str]:
    with ServerThread(create_app(settings)) as server:
        wait_ready(server.url)
        yield server.url


@pytest.fixture(scope="module")
def serve_tier(settings: WorkerSettings) -> Iterator[Any]:
    """The tier deployment on a local cluster: one replica, one request in it and one queued in
    front of it (Serve's back-pressure beyond that, 429 with Retry-After)."""
    from ray import serve

    from routet2i.ray_serve.tier import TierDeployment

    deployment = TierDeployment.options(
        name="edge",
        num_replicas=1,
        max_ongoing_requests=1,
        max_queued_requests=1,
        backpressure_config={"status_code": 429, "retry_after_s": SERVE_RETRY_AFTER_S},
        ray_actor_options={"num_cpus": 0.5},
    )
    with local_serve():
        handle = serve.run(deployment.bind("edge", settings), name="contract", route_prefix=None)
        yield handle


def client_for(kind: str, request: pytest.FixtureRequest) -> ImageWorker:
    if kind == "http":
        return WorkerClient(request.getfixturevalue("http_worker"), timeout=60)
    from routet2i.ray_serve.tier_client import ServeTierClient

    return ServeTierClient(request.getfixturevalue("serve_tier"), tier="edge", timeout=60, probe_timeout=10)


@pytest.fixture(params=IMPLEMENTATIONS)
async def tier(request: pytest.FixtureRequest) -> AsyncIterator[ImageWorker]:
    client = client_for(request.param, request)
    try:
        yield client
    finally:
        await client.aclose()


async def test_images_come_back(tier: ImageWorker) -> None:
    response = await tier.generate(GenerateRequest(prompt="a lighthouse at dawn", seed=5, n=2), timeout=60)
    assert [image.seed for image in response.images] == [5, 6]
    assert all(image.b64_png.startswith(PNG_B64_PREFIX) for image in response.images)
    assert (response.parameters.width, response.parameters.height, response.parameters.steps) == (64, 64, 2)
    assert response.model == "tiny-contract"
    assert response.timings.total_ms >= response.timings.generate_ms > 0


@pytest.mark.parametrize(("field", "value"), [("width", 4000), ("steps", 99), ("n", 9)])
async def test_a_bad_request_is_worker_bad_request(tier: ImageWorker, field: str, value: int) -> None:
    request = GenerateRequest.model_validate({"prompt": "a red fox", field: value})
    with pytest.raises(WorkerBadRequest) as caught:
        await tier.generate(request, timeout=30)
    assert caught.value.field == field
    assert caught.value.status == 422


async def test_overload_is_worker_overloaded_with_retry_after(tier: ImageWorker) -> None:
    burst = [tier.generate(GenerateRequest(prompt=f"a busy street {i}", seed=i, **SLOW), timeout=60) for i in range(8)]
    outcomes = await asyncio.gather(*burst, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, WorkerOverloaded) for o in refused), refused
    assert 1 <= len(outcomes) - len(refused) < len(outcomes)  # at least the first one is served
    for error in refused:
        assert isinstance(error, WorkerOverloaded)
        assert error.status == 429 and error.retry_after is not None and error.retry_after >= 1.0
    if isinstance(tier, WorkerClient):
        assert {e.retry_after for e in refused if isinstance(e, WorkerOverloaded)} >= {1.0}  # the worker's estimate
    else:
        assert {e.retry_after for e in refused if isinstance(e, WorkerOverloaded)} == {SERVE_RETRY_AFTER_S}


async def test_a_deadline_is_worker_timeout(tier: ImageWorker) -> None:
    with pytest.raises(WorkerTimeout):
        await tier.generate(GenerateRequest(prompt="a slow one", **SLOW), timeout=0.005)
    # the tier is not left wedged: the next request is served
    response = await tier.generate(GenerateRequest(prompt="a quick one", seed=1), timeout=60)
    assert len(response.images) == 1


async def test_ready(tier: ImageWorker) -> None:
    assert await tier.ready() is True
    assert isinstance(tier, ReadinessProbe)
    assert await tier.why_not_ready() is None


async def test_both_implementations_make_the_same_image(request: pytest.FixtureRequest) -> None:
    """Same worker settings, same pipeline, same seed: the same PNG bytes through either path."""
    generate = GenerateRequest(prompt="a bowl of ramen", seed=1234)
    pngs = []
    for kind in IMPLEMENTATIONS:
        client = client_for(kind, request)
        try:
            pngs.append(base64.b64decode((await client.generate(generate, timeout=60)).images[0].b64_png))
        finally:
            await client.aclose()
    assert pngs[0] == pngs[1]


async def test_a_tier_that_is_gone_is_unavailable(request: pytest.FixtureRequest) -> None:
    """HTTP: nothing listens on the port. Serve: the tier's application was deleted (Serve holds
    the request until its deadline; the client then finds no running replica: unavailable).

    Deletes the module's tier deployment (a fresh one would cost a replica start, ~10 s here), so
    it is the module's last test."""
    from ray import serve

    from routet2i.ray_serve.tier_client import ServeTierClient

    handle = request.getfixturevalue("serve_tier")
    serve.delete("contract")
    clients: list[ImageWorker] = [
        WorkerClient(f"http://127.0.0.1:{free_port()}", connect_retries=0),
        ServeTierClient(handle, tier="edge", timeout=2, probe_timeout=10),
    ]
    for client in clients:
        assert await client.ready() is False
        assert isinstance(client, ReadinessProbe)
        assert await client.why_not_ready()
        with pytest.raises(WorkerUnavailable):
            await client.generate(GenerateRequest(prompt="anyone there?"), timeout=2)
        await client.aclose()
