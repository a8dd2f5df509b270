#!/usr/bin/env python
"""Benchmark the gateway's own overhead and the router's latency.

    python scripts/bench_gateway.py [--checkpoint DIR] [--requests 300] [--out bench.json]

Starts, as separate processes on 127.0.0.1:

- a *fast worker*: a stub speaking the worker API (``POST /v1/generate`` answers at once with a
  fixed 8x8 PNG), so the worker costs almost nothing;
- the real gateway (``routet2i gateway``) with the router checkpoint (``--checkpoint``, default
  the packaged one; without either, an *untrained* predictor on the default MiniLM encoder saved
  through the product's checkpoint code: the timings are the same as a trained one's), both tiers
  pointed at the stub, no budget cap.

Then, in the same run, it measures from this process:

1. **overhead**: sequential requests straight to the stub (``/v1/generate``) interleaved with
   requests through the gateway (``/generate``). Reported: median and p99 of each, the gateway's
   extra time in ms and as a ratio, and the extra time *beyond the router's own encode-and-predict
   time* (each gateway request minus its ``routing.router_ms``). Target: < 3 ms at the median.
2. **router latency** p50 / p99 (``routing.router_ms``: queue + encode + predict + decide) at
   concurrency 1 and 32, with the requests per second reached.

Prints a table and writes the numbers as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import Response

ROOT = Path(__file__).resolve().parent.parent

FALLBACK_PROMPTS = [
    "a red fox in the snow",
    "an astronaut riding a horse on the moon, photorealistic",
    "a bowl of fruit, oil painting in the style of Cezanne",
    "a city skyline at night with neon signs reflected in the rain",
    "the word 'routet2i' written in golden letters on a wooden sign",
    "two cats playing chess in a library",
    "a minimalist logo of a mountain",
    "a watercolor of a lighthouse on a cliff during a storm",
]


# --------------------------------------------------------------------------------- stub worker
def stub_worker_app() -> Any:
    """A worker that answers at once (the bench's 'fast worker')."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 120, 200)).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    app = FastAPI()

    @app.post("/v1/generate")
    async def generate(request: Request) -> Response:
        body = json.loads(await request.body())
        n, seed = int(body.get("n", 1)), int(body.get("seed", 0))
        out = {
            "images": [{"b64_png": b64, "seed": seed + i} for i in range(n)],
            "model": "stub",
            "parameters": {"width": body.get("width", 512), "height": body.get("height", 512), "steps": 1, "guidance_scale": 0.0},
            "timings": {"queue_ms": 0.0, "generate_ms": 0.0, "total_ms": 0.0, "batch_images": n, "batch_requests": 1},
        }
        return Response(json.dumps(out), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_stub(port: int) -> None:
    import uvicorn

    uvicorn.run(stub_worker_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --------------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready in {timeout:.0f} s")


def gateway_config(path: Path, worker_url: str, checkpoint: Path | None, port: int) -> None:
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "router": {"checkpoint": str(checkpoint) if checkpoint else None, "device": "cpu", "max_wait_ms": 2},
        "tiers": {
            "edge": {"url": worker_url, "model": "stub-edge", "timeout_s": 30},
            "cloud": {"url": worker_url, "model": "stub-cloud", "timeout_s": 30},
        },
        "budget": {"cloud_share": None},
        "limits": {"max_in_flight": 4096},
        "health": {"interval_s": 30},
        "logging": {"json_logs": True, "log_prompts": False},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


# --------------------------------------------------------------------------------- measuring
def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


async def overhead(gw: str, worker: str, prompts: list[str], n: int) -> dict[str, Any]:
    direct: list[float] = []
    through: list[float] = []
    beyond_router: list[float] = []
    router: list[float] = []
    worker_call: list[float] = []
    outside: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 20):
            prompt = prompts[i % len(prompts)]
            body = {"prompt": prompt, "seed": i, "width": 512, "height": 512}
            t0 = time.perf_counter()
            r = await client.post(f"{worker}/v1/generate", json=body)
            t1 = time.perf_counter()
            r.raise_for_status()
            g = await client.post(f"{gw}/generate", json=body)
            t2 = time.perf_counter()
            g.raise_for_status()
            if i < 20:  # warm-up
                continue
            payload = g.json()
            router_ms = float(payload["routing"]["router_ms"])
            worker_call.append(float(payload["timings"]["worker_ms"]))
            outside.append((t2 - t1) * 1000 - float(payload["timings"]["total_ms"]))
            direct.append((t1 - t0) * 1000)
            through.append((t2 - t1) * 1000)
            router.append(router_ms)
            beyond_router.append((t2 - t1) * 1000 - router_ms)
    med_direct, med_gw = statistics.median(direct), statistics.median(through)
    return {
        "requests": n,
        "direct_ms": {"p50": med_direct, "p99": pct(direct, 0.99)},
        "gateway_ms": {"p50": med_gw, "p99": pct(through, 0.99)},
        "router_ms": {"p50": statistics.median(router), "p99": pct(router, 0.99)},
        # the gateway's call to the worker, and the time outside the service's own path (HTTP in
        # and out, validation, serialisation), per request
        "worker_call_ms_p50": statistics.median(worker_call),
        "outside_service_ms_p50": statistics.median(outside),
        "added_ms_p50": med_gw - med_direct,
        "ratio_p50": med_gw / med_direct,
        "added_beyond_router_ms_p50": statistics.median(beyond_router) - med_direct,
    }


async def router_latency(gw: str, prompts: list[str], n: int, concurrency: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    router: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            async with sem:
                r = await client.post(f"{gw}/generate", json={"prompt": prompts[i % len(prompts)], "seed": i})
                r.raise_for_status()
                router.append(float(r.json()["routing"]["router_ms"]))

        await asyncio.gather(*(one(i) for i in range(min(n, 2 * concurrency))))  # warm-up
        router.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "requests": n,
        "router_ms_p50": statistics.median(router),
        "router_ms_p99": pct(router, 0.99),
        "requests_per_s": n / elapsed,
    }


def untrained_checkpoint(path: Path) -> Path:
    """An untrained predictor on the default encoder, saved with the product's checkpoint code."""
    import torch

    from routet2i.encoders.loading import load_encoder
    from routet2i.encoders.spec import DEFAULT_ENCODER
    from routet2i.predictor.architecture import PredictorConfig
    from routet2i.predictor.checkpoint import CheckpointMeta, save_checkpoint
    from routet2i.predictor.model import KeyTokenPredictor
    from routet2i.predictor.settings import TrainingSettings

    torch.manual_seed(0)
    metrics = ["definition", "detail", "clarity", "sharpness"]
    dim = load_encoder(DEFAULT_ENCODER, "cpu").dim
    arch = TrainingSettings.load().architecture.model_dump()
    config = PredictorConfig(d_model=dim, n_metrics=len(metrics), **arch)
    meta = CheckpointMeta(
        architecture=config,
        encoder=DEFAULT_ENCODER,
        metrics=metrics,
        metric_weights=[1 / len(metrics)] * len(metrics),
        gamma=1.0,
        mu_gaps={"bench": dict.fromkeys(metrics, 0.1)},
        training={"data_id": "untrained (bench_gateway.py)", "seed": 0},
    )
    return save_checkpoint(path, KeyTokenPredictor(config), meta)


def load_prompts() -> list[str]:
    from routet2i.config import data_dir

    path = data_dir() / "partiprompts" / "PartiPrompts.tsv"
    if path.is_file():
        import csv

        with path.open(encoding="utf-8", newline="") as f:
            return [row["Prompt"] for row in csv.DictReader(f, delimiter="\t") if row["Prompt"].strip()][:1000]
    return FALLBACK_PROMPTS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="router checkpoint (default: packaged)")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers here as JSON")
    parser.add_argument("--serve-stub-worker", type=int, default=None, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub_worker is not None:
        serve_stub(args.serve_stub_worker)
        return 0

    worker_port, gw_port = free_port(), free_port()
    worker, gw = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{gw_port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from routet2i.predictor.checkpoint import default_checkpoint_dir

            if not (default_checkpoint_dir() / "config.json").is_file():
                print("no packaged router checkpoint: benchmarking an untrained one on the default encoder")
                checkpoint = untrained_checkpoint(Path(tmp) / "router")
        config = Path(tmp) / "gateway.yaml"
        gateway_config(config, worker, checkpoint, gw_port)
        try:
            procs.append(subprocess.Popen([sys.executable, __file__, "--serve-stub-worker", str(worker_port)], env=env))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "routet2i.cli", "--log-level", "WARNING", "gateway", "--config", str(config)],
                    env=env,
                    cwd=ROOT,
                )
            )
            wait_ready(worker, procs[0])
            wait_ready(gw, procs[1])
            prompts = load_prompts()
            results: dict[str, Any] = {"overhead": asyncio.run(overhead(gw, worker, prompts, args.requests))}
            results["router"] = [asyncio.run(router_latency(gw, prompts, args.requests, c)) for c in (1, 32)]
            results["checkpoint"] = httpx.get(f"{gw}/v1/models").json().get("router")
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    o = results["overhead"]
    print(f"direct to the fast worker   p50 {o['direct_ms']['p50']:7.2f} ms   p99 {o['direct_ms']['p99']:7.2f} ms")
    print(f"through the gateway         p50 {o['gateway_ms']['p50']:7.2f} ms   p99 {o['gateway_ms']['p99']:7.2f} ms")
    print(f"router (in the gateway)     p50 {o['router_ms']['p50']:7.2f} ms   p99 {o['router_ms']['p99']:7.2f} ms")
    print(f"gateway adds                p50 {o['added_ms_p50']:7.2f} ms   (x{o['ratio_p50']:.2f} of a direct call)")
    print(f"  beyond the router's time  p50 {o['added_beyond_router_ms_p50']:7.2f} ms   (target < 3 ms)")
    print(
        f"  of which: gateway→worker call p50 {o['worker_call_ms_p50']:.2f} ms, HTTP in/out + validation + "
        f"serialisation p50 {o['outside_service_ms_p50']:.2f} ms"
    )
    for r in results["router"]:
        print(
            f"router latency @ concurrency {r['concurrency']:2d}: p50 {r['router_ms_p50']:7.2f} ms   "
            f"p99 {r['router_ms_p99']:7.2f} ms   {r['requests_per_s']:7.1f} req/s"
        )
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
