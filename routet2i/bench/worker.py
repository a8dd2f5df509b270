"""A worker's images per second under a concurrent burst, dynamic batching on vs off.

The model loads once; two worker apps (batching on, batching off) share it and each serves the
same burst of concurrent ``n=1`` requests over a real socket on 127.0.0.1 through
:class:`~routet2i.workers.client.WorkerClient`; the median of ``rounds`` bursts is reported.
Without a model or config it uses the tiny SD pipeline of :mod:`routet2i.testing.pipelines`.
"""

from __future__ import annotations

import asyncio
import re
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult


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


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the benchmark's worker app did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def worker_settings(
    *,
    config: Path | None,
    model: str,
    device: str | None = None,
    dtype: str | None = None,
    variant: str | None = None,
    threads: int | None = None,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    requests: int = 32,
    max_batch: int = 8,
    max_wait_ms: float = 20.0,
) -> Any:
    """The worker settings of the bench: ``config`` (or tiny defaults) with these overrides."""
    from routet2i.config import validate_or_explain
    from routet2i.workers.settings import WorkerSettings

    if config is not None:
        base: dict[str, Any] = WorkerSettings.load(config).model_dump()
    else:
        base = {
            "model": model,
            "defaults": {"width": 64, "height": 64, "steps": 2, "guidance_scale": 0.0},
            "limits": {"min_size": 32, "max_steps": 50},
            "diffusers": {"device": "cpu", "dtype": "float32"},
        }
    if model:
        base["model"] = model
    diffusers = base.setdefault("diffusers", {})
    for key, value in (("device", device), ("dtype", dtype), ("variant", variant), ("cpu_threads", threads)):
        if value is not None:
            diffusers[key] = value
    defaults = base.setdefault("defaults", {})
    sizes: tuple[tuple[str, float | None], ...] = (
        ("width", width),
        ("height", height),
        ("steps", steps),
        ("guidance_scale", guidance),
    )
    for key, number in sizes:
        if number is not None:
            defaults[key] = number
    base["queue"] = {**base.get("queue", {}), "max_pending": max(requests * 2, 8), "default_timeout_s": 3600}
    base["limits"] = {**base.get("limits", {}), "max_n": max(max_batch, 1)}
    base["batching"] = {"enabled": True, "max_batch_images": max_batch, "max_wait_ms": max_wait_ms}
    base["warmup"] = False
    return validate_or_explain(WorkerSettings, base, "routet2i bench worker")


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


def run_worker_bench(
    *,
    config: Path | None = None,
    model: str | None = None,
    requests: int = 32,
    rounds: int = 3,
    max_batch: int = 8,
    max_wait_ms: float = 20.0,
    **overrides: Any,
) -> dict[str, Any]:
    """The worker suite; returns the figures (a JSON-able dict). ``overrides``: the keyword
    arguments of :func:`worker_settings` (device, dtype, variant, threads, width, height,
    steps, guidance)."""
    from routet2i.bench.stack import build_tiny_sd
    from routet2i.workers.app import create_app
    from routet2i.workers.loading import build_backend

    tiny = model is None and config is None
    with tempfile.TemporaryDirectory() as tmp:
        if tiny:
            model = str(build_tiny_sd(Path(tmp)))
        on = worker_settings(
            config=config,
            model=model or "",
            requests=requests,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            **overrides,
        )
        off = on.model_copy(update={"batching": on.batching.model_copy(update={"enabled": False})})
        backend = build_backend(on)
        t0 = time.perf_counter()
        asyncio.run(backend.start(None))
        load_s = time.perf_counter() - t0
        details = backend.details()
        results: dict[str, dict[str, float]] = {}
        try:
            for mode, settings in (("on", on), ("off", off)):
                with Served(create_app(settings, SharedBackend(backend))) as served:
                    asyncio.run(burst(served.url, min(requests, max_batch)))  # warm-up burst
                    measured = [asyncio.run(burst(served.url, requests)) for _ in range(rounds)]
                seconds = statistics.median(r[0] for r in measured)
                results[mode] = {
                    "images_per_s": requests / seconds,
                    "seconds": seconds,
                    "pipeline_calls": statistics.median(r[1] for r in measured),
                    "mean_latency_s": statistics.median(r[2] for r in measured),
                }
        finally:
            asyncio.run(backend.close())
    d = on.defaults
    return {
        "model": "tiny random SD (routet2i.testing.pipelines)" if tiny else on.model,
        "backend": details,
        "size": f"{d.width}x{d.height}",
        "steps": d.steps,
        "requests": requests,
        "rounds": rounds,
        "max_batch_images": max_batch,
        "max_wait_ms": max_wait_ms,
        "load_s": load_s,
        "batching_on": results["on"],
        "batching_off": results["off"],
        "ratio_on_off": results["on"]["images_per_s"] / results["off"]["images_per_s"],
    }


def format_worker(report: dict[str, Any]) -> str:
    lines = [
        f"model {report['model']} {report['backend']}",
        f"burst of {report['requests']} requests, {report['size']}, {report['steps']} steps, median of {report['rounds']}",
    ]
    for mode in ("on", "off"):
        r = report[f"batching_{mode}"]
        lines.append(
            f"  batching {mode:3s}: {r['images_per_s']:8.2f} images/s  {r['pipeline_calls']:4.0f} pipeline calls  "
            f"mean latency {r['mean_latency_s'] * 1000:8.1f} ms"
        )
    lines.append(f"  ratio on/off: {report['ratio_on_off']:.2f}x")
    return "\n".join(lines)
