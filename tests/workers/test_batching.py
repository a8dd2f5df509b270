"""Dynamic batching on a real tiny SD pipeline: a concurrent burst of compatible requests runs in
fewer pipeline calls than requests, and every caller still gets its own seed's image."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from routet2i.workers.app import create_app
from routet2i.workers.client import WorkerClient
from routet2i.workers.schemas import GenerateRequest
from tests.workers.harness import ServerThread, tiny_settings, wait_ready
from tests.workers.images import same_image


@pytest.fixture(scope="module")
def batching_worker(tiny_pipeline: Callable[[str], Path]) -> Iterator[str]:
    settings = tiny_settings(
        tiny_pipeline("sd"), batching={"enabled": True, "max_batch_images": 8, "max_wait_ms": 150}, warmup=False
    )
    with ServerThread(create_app(settings)) as server:
        wait_ready(server.url)
        yield server.url


def pipeline_calls(metrics_text: str) -> int:
    match = re.search(r'^routet2i_worker_batch_images_count\{model="tiny"\} (\S+)$', metrics_text, re.M)
    return int(float(match.group(1))) if match else 0


async def test_burst_of_compatible_requests_shares_pipeline_calls(batching_worker: str) -> None:
    seeds = list(range(100, 108))
    async with WorkerClient(batching_worker) as worker, httpx.AsyncClient(base_url=batching_worker) as http:
        before = pipeline_calls((await http.get("/metrics")).text)
        burst = await asyncio.gather(
            *(worker.generate(GenerateRequest(prompt=f"a watercolor of bird {s}", seed=s)) for s in seeds)
        )
        calls = pipeline_calls((await http.get("/metrics")).text) - before
        assert 1 <= calls < len(seeds)
        assert max(r.timings.batch_requests for r in burst) > 1
        for seed, response in zip(seeds, burst, strict=True):
            assert [im.seed for im in response.images] == [seed]
            alone = await worker.generate(GenerateRequest(prompt=f"a watercolor of bird {seed}", seed=seed))
            assert alone.timings.batch_requests == 1
            assert same_image(response.images[0].b64_png, alone.images[0].b64_png)
        assert not same_image(burst[0].images[0].b64_png, burst[1].images[0].b64_png)


async def test_incompatible_requests_do_not_share_a_call(batching_worker: str) -> None:
    async with WorkerClient(batching_worker) as worker:
        small, wide, guided = await asyncio.gather(
            worker.generate(GenerateRequest(prompt="a", seed=1)),
            worker.generate(GenerateRequest(prompt="b", seed=2, width=96)),
            worker.generate(GenerateRequest(prompt="c", seed=3, guidance_scale=3.0, negative_prompt="dull")),
        )
    assert [r.timings.batch_requests for r in (small, wide, guided)] == [1, 1, 1]
