"""Measure: the worker's own batching scheduler in a Serve replica vs ``@serve.batch``.

    HF_HUB_OFFLINE=1 python tests/ray_serve/measure_batching.py [--requests 96] [--concurrency 16]

Not a test (a report for the choice in routet2i/ray_serve/tier.py). One replica at a time on a
local 2-CPU cluster, the tiny SD pipeline (64 px, 2 steps, one torch thread), driven through a
``DeploymentHandle`` from this process at a fixed concurrency: same sizes, then a mix of two
sizes (which one pipeline call cannot share). Prints images/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import ray
from ray import serve

from routet2i.config import validate_or_explain
from routet2i.testing.demo import tiny_worker_config
from routet2i.testing.pipelines import save_tiny_pipeline
from routet2i.workers.backend import GenerationJob, ImageResult
from routet2i.workers.loading import build_backend
from routet2i.workers.params import resolve_request
from routet2i.workers.schemas import GenerateRequest
from routet2i.workers.settings import WorkerSettings


@serve.deployment
class ServeBatchTier:
    """The alternative: the worker's backend behind ``@serve.batch`` (requests grouped by batch key
    inside each Serve batch; no deadline, cancellation or Retry-After logic of its own)."""

    async def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.backend = build_backend(settings)
        await self.backend.start(None)

    async def generate(self, request: GenerateRequest, timeout_s: float, request_id: str | None) -> list[ImageResult]:
        s = self.settings
        job = resolve_request(request, s.defaults, s.limits, self.backend.supported_fields)
        self.backend.validate(job)
        return await self._batched(job)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _batched(self, jobs: list[GenerationJob]) -> list[list[ImageResult]]:
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            groups[job.batch_key].append(i)
        out: list[list[ImageResult]] = [[] for _ in jobs]
        for indices in groups.values():
            results = await self.backend.generate([jobs[i] for i in indices])
            for i, row in zip(indices, results, strict=True):
                out[i] = row
        return out


async def drive(handle: Any, requests: list[GenerateRequest], concurrency: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(request: GenerateRequest) -> None:
        async with gate:
            t0 = time.perf_counter()
            await handle.generate.remote(request, 60.0, None)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    return time.perf_counter() - t0, latencies


def workload(kind: str, count: int) -> list[GenerateRequest]:
    sizes = [64] if kind == "same size" else [64, 96]
    return [
        GenerateRequest(prompt=f"a prompt {i}", seed=i, width=sizes[i % len(sizes)], height=64) for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from routet2i.ray_serve.tier import TierDeployment

    root = Path(tempfile.mkdtemp(prefix="routet2i-batching-"))
    data = tiny_worker_config(Path(save_tiny_pipeline("sd", root / "tiny-sd")), "tiny", "edge", max_pending=64)
    data["batching"] = {"enabled": True, "max_batch_images": 8, "max_wait_ms": 5}
    settings = validate_or_explain(WorkerSettings, data, "measure")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(proxy_location="Disabled")
    options = {"num_replicas": 1, "max_ongoing_requests": 16, "ray_actor_options": {"num_cpus": 1}}
    variants = {
        "worker scheduler": TierDeployment.options(name="edge", **options).bind("edge", settings),
        "@serve.batch": ServeBatchTier.options(name="edge", **options).bind(settings),
    }
    try:
        for name, app in variants.items():
            handle = serve.run(app, name="measure", route_prefix=None)
            asyncio.run(drive(handle, workload("same size", 16), 8))  # warm-up
            for kind in ("same size", "two sizes"):
                for _ in range(args.rounds):
                    seconds, lat = asyncio.run(drive(handle, workload(kind, args.requests), args.concurrency))
                    q = statistics.quantiles(lat, n=20)
                    print(
                        f"{name:17s} {kind:10s} {args.requests / seconds:6.1f} images/s  "
                        f"p50 {statistics.median(lat) * 1000:6.0f} ms  p95 {q[18] * 1000:6.0f} ms",
                        flush=True,
                    )
            serve.delete("measure")
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
