"""Benchmark a worker: images per second under a concurrent burst, dynamic batching on vs off.

The model loads once; two worker apps (batching on, batching off) share it and each serves the
same burst of concurrent requests over a real socket through WorkerClient. Prints one line per
mode and the on/off throughput ratio.

    # here (CPU): a tiny random-weight SD pipeline built in a temp dir
    python scripts/bench_worker.py
    # on a GPU box
    python scripts/bench_worker.py --model stabilityai/sd-turbo --variant fp16 --device cuda \
        --width 512 --height 512 --steps 1 --requests 64 --max-batch 8
    # or any worker config
    python scripts/bench_worker.py --config configs/cloud-sdxl.yaml --requests 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routet2i.config import validate_or_explain  # noqa: E402
from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult, build_backend  # noqa: E402
from routet2i.workers.settings import WorkerSettings  # noqa: E402


class SharedBackend(ImageBackend):
    """Lends one loaded backend to several apps (start/close are the owner's business)."""

    def __init__(self, inner: ImageBackend) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.batchable = inner.batchable
        self.max_concurrency = inner.max_concurrency
        self.supported_fields = inner.supported_fields

    async def start(self, warmup: GenerationJob | None) -> None:
        return None

    async def generate(self, jobs: Sequence[GenerationJob]) -> list[list[ImageResult]]:
        return await self.inner.generate(jobs)

    def details(self) -> dict[str, Any]:
        return self.inner.details()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="a worker YAML to start from")
    p.add_argument("--model", help="hub id or folder (default: a tiny SD pipeline built in a temp dir)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cpu for the tiny model)")
    p.add_argument("--dtype", default=None, choices=["auto", "float32", "float16", "bfloat16"])
    p.add_argument("--variant", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (diffusers.cpu_threads)")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--requests", type=int, default=32, help="requests in the burst (n=1 each)")
    p.add_argument("--rounds", type=int, default=3, help="bursts per mode (the median is reported)")
    p.add_argument("--max-batch", type=int, default=8, help="batching.max_batch_images when on")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="batching.max_wait_ms when on")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p.parse_args(argv)


def build_settings(args: argparse.Namespace, model: str) -> WorkerSettings:
    base: dict[str, Any] = {}
    if args.config is not None:
        base = WorkerSettings.load(args.config).model_dump()
    else:
        base = {
            "model": model,
            "defaults": {"width": 64, "height": 64, "steps": 2, "guidance_scale": 0.0},
            "limits": {"min_size": 32, "max_steps": 50},
            "diffusers": {"device": "cpu", "dtype": "float32"},
        }
    if args.model is not None:
        base["model"] = args.model
    diffusers = base.setdefault("diffusers", {})
    for key, value in (
        ("device", args.device),
        ("dtype", args.dtype),
        ("variant", args.variant),
        ("cpu_threads", args.threads),
    ):
        if value is not None:
            diffusers[key] = value
    defaults = base.setdefault("defaults", {})
    for key, value in (
        ("width", args.width),
        ("height", args.height),
        ("steps", args.steps),
        ("guidance_scale", args.guidance),
    ):
        if value is not None:
            defaults[key] = value
    base["queue"] = {**base.get("queue", {}), "max_pending": max(args.requests * 2, 8), "default_timeout_s": 3600}
    base["limits"] = {**base.get("limits", {}), "max_n": max(args.max_batch, 1)}
    base["batching"] = {"enabled": True, "max_batch_images": args.max_batch, "max_wait_ms": args.max_wait_ms}
    return validate_or_explain(WorkerSettings, base, "bench_worker")


class Served:
    """A worker app served by uvicorn on 127.0.0.1 (random port) in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def pipeline_calls(metrics_text: str) -> int:
    match = re.search(r"^routet2i_worker_batch_images_count\{[^}]*\} (\S+)$", metrics_text, re.M)
    return int(float(match.group(1))) if match else 0


async def burst(url: str, requests: int) -> tuple[float, int, float]:
    """(seconds, pipeline calls, mean latency s) for ``requests`` concurrent n=1 requests."""
    import httpx

    from routet2i.workers.client import WorkerClient
    from routet2i.workers.schemas import GenerateRequest

    async with WorkerClient(url, timeout=3600, max_connections=requests) as worker, httpx.AsyncClient() as http:
        before = pipeline_calls((await http.get(f"{url}/metrics")).text)
        latencies: list[float] = []

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            await worker.generate(GenerateRequest(prompt=f"a photo of object number {i}", seed=i))
            latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        seconds = time.perf_counter() - t0
        calls = pipeline_calls((await http.get(f"{url}/metrics")).text) - before
    return seconds, calls, statistics.fmean(latencies)


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from routet2i.workers.app import create_app

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None and args.config is None:
            from tests.tiny.pipelines import save_tiny_pipeline

            model = str(save_tiny_pipeline("sd", Path(tmp) / "tiny-sd"))
        settings_on = build_settings(args, model or "")
        settings_off = settings_on.model_copy(
            update={"batching": settings_on.batching.model_copy(update={"enabled": False})}
        )
        backend = build_backend(settings_on)
        t0 = time.perf_counter()
        asyncio.run(backend.start(None))
        load_s = time.perf_counter() - t0
        details = backend.details()
        results: dict[str, dict[str, float]] = {}
        try:
            for mode, settings in (("on", settings_on), ("off", settings_off)):
                with Served(create_app(settings.model_copy(update={"warmup": False}), SharedBackend(backend))) as s:
                    asyncio.run(burst(s.url, min(args.requests, args.max_batch)))  # warm-up burst
                    rounds = [asyncio.run(burst(s.url, args.requests)) for _ in range(args.rounds)]
                seconds = statistics.median(r[0] for r in rounds)
                results[mode] = {
                    "images_per_s": args.requests / seconds,
                    "seconds": seconds,
                    "pipeline_calls": statistics.median(r[1] for r in rounds),
                    "mean_latency_s": statistics.median(r[2] for r in rounds),
                }
        finally:
            asyncio.run(backend.close())
    d = settings_on.defaults
    report = {
        "model": settings_on.model if args.model or args.config else "tiny random SD (tests/tiny/pipelines.py)",
        "backend": details,
        "size": f"{d.width}x{d.height}",
        "steps": d.steps,
        "requests": args.requests,
        "max_batch_images": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "load_s": load_s,
        "batching_on": results["on"],
        "batching_off": results["off"],
        "ratio_on_off": results["on"]["images_per_s"] / results["off"]["images_per_s"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model {report['model']} {report['backend']}")
    print(f"burst of {args.requests} requests, {report['size']}, {d.steps} steps, median of {args.rounds}")
    for mode in ("on", "off"):
        r = results[mode]
        print(
            f"  batching {mode:3s}: {r['images_per_s']:8.2f} images/s  {r['pipeline_calls']:4.0f} pipeline calls  "
            f"mean latency {r['mean_latency_s'] * 1000:8.1f} ms"
        )
    print(f"  ratio on/off: {report['ratio_on_off']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
