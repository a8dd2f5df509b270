"""The gateway's own overhead against calling a worker directly, and the router's latency.

Starts, as separate processes on 127.0.0.1, a *fast worker* (:mod:`routet2i.bench.fault_worker`
without an upstream: it answers at once with a fixed 8x8 PNG, so the worker costs almost nothing)
and the real gateway (``routet2i gateway``) with both tiers pointed at it and no budget cap, and
the router checkpoint given (default: the packaged one; without either, an *untrained* predictor
on the default MiniLM encoder, saved through the product's checkpoint code: the timings are those
of a trained one). Then, from this process:

1. **overhead**: sequential requests straight to the fast worker (``/v1/generate``) interleaved
   with requests through the gateway (``/generate``): p50 and p99 of each, the gateway's extra
   time in ms and as a ratio, and the extra time *beyond the router's own encode-and-predict time*
   (each gateway request minus its ``routing.router_ms``; target < 3 ms at the median);
2. **router latency** p50 / p99 (``routing.router_ms``: queue + encode + predict + decide) at
   concurrency 1 and 32, with the requests per second reached.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from routet2i.bench.load import PROMPTS
from routet2i.bench.stats import percentile


async def overhead(gw: str, worker: str, headers: dict[str, str], prompts: list[str], n: int) -> dict[str, Any]:
    import httpx

    direct: list[float] = []
    through: list[float] = []
    beyond_router: list[float] = []
    router: list[float] = []
    worker_call: list[float] = []
    outside: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 20):
            body = {"prompt": prompts[i % len(prompts)], "seed": i, "width": 512, "height": 512}
            t0 = time.perf_counter()
            r = await client.post(f"{worker}/v1/generate", json=body)
            t1 = time.perf_counter()
            r.raise_for_status()
            g = await client.post(f"{gw}/generate", json=body, headers=headers)
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
        "direct_ms": {"p50": med_direct, "p99": percentile(direct, 0.99)},
        "gateway_ms": {"p50": med_gw, "p99": percentile(through, 0.99)},
        "router_ms": {"p50": statistics.median(router), "p99": percentile(router, 0.99)},
        # the gateway's call to the worker, and the time outside the service's own path (HTTP in
        # and out, validation, serialisation), per request
        "worker_call_ms_p50": statistics.median(worker_call),
        "outside_service_ms_p50": statistics.median(outside),
        "added_ms_p50": med_gw - med_direct,
        "ratio_p50": med_gw / med_direct,
        "added_beyond_router_ms_p50": statistics.median(beyond_router) - med_direct,
    }


async def router_latency(
    gw: str, headers: dict[str, str], prompts: list[str], n: int, concurrency: int
) -> dict[str, Any]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    router: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            async with sem:
                body = {"prompt": prompts[i % len(prompts)], "seed": i}
                r = await client.post(f"{gw}/generate", json=body, headers=headers)
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
        "router_ms_p99": percentile(router, 0.99),
        "requests_per_s": n / elapsed,
    }


def run_overhead_bench(
    *, checkpoint: Path | None = None, requests: int = 300, workdir: Path | None = None
) -> dict[str, Any]:
    """The overhead suite; returns the figures (a JSON-able dict)."""
    import httpx

    from routet2i.bench.processes import ManagedProcess, child_env, free_port, routet2i_argv
    from routet2i.bench.stack import CLIENT_KEY, gateway_config, write_yaml
    from routet2i.predictor.checkpoint import default_checkpoint_dir

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = workdir or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        note = None
        if checkpoint is None and not (default_checkpoint_dir() / "config.json").is_file():
            from routet2i.bench.router import untrained_checkpoint
            from routet2i.encoders.loading import load_encoder
            from routet2i.encoders.spec import DEFAULT_ENCODER

            encoder = load_encoder(DEFAULT_ENCODER, "cpu")
            checkpoint = untrained_checkpoint(tmp / "router", encoder.spec, encoder.dim, n_metrics=4)
            note = "no packaged router checkpoint: an untrained one on the default encoder (4 metrics)"
        worker_port, gw_port = free_port(), free_port()
        worker_url, gw_url = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{gw_port}"
        config = gateway_config(
            worker_url,
            worker_url,
            checkpoint,
            gw_port,
            router={"max_wait_ms": 2},
            budget={"cloud_share": None},
            limits={"min_size": 64, "default_width": 512, "default_height": 512, "max_in_flight": 4096},
            health={"interval_s": 30},
        )
        env = child_env()
        worker = ManagedProcess(
            "fast-worker",
            [sys.executable, "-m", "routet2i.bench.fault_worker", "--port", str(worker_port)],
            tmp / "worker.log",
            env=env,
        )
        gateway = ManagedProcess(
            "gateway",
            routet2i_argv("gateway", "--config", str(write_yaml(tmp / "gateway.yaml", config)), log_level="WARNING"),
            tmp / "gateway.log",
            env=env,
        )
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        try:
            worker.start()
            gateway.start()
            worker.wait_ready(worker_url)
            gateway.wait_ready(gw_url)
            prompts = list(PROMPTS)
            results: dict[str, Any] = {
                "overhead": asyncio.run(overhead(gw_url, worker_url, headers, prompts, requests))
            }
            results["router"] = [asyncio.run(router_latency(gw_url, headers, prompts, requests, c)) for c in (1, 32)]
            results["checkpoint"] = httpx.get(f"{gw_url}/v1/models", headers=headers).json().get("router")
            results["note"] = note
        finally:
            gateway.stop()
            worker.stop()
    return results


def format_overhead(results: dict[str, Any]) -> str:
    o = results["overhead"]
    lines = [
        f"direct to the fast worker   p50 {o['direct_ms']['p50']:7.2f} ms   p99 {o['direct_ms']['p99']:7.2f} ms",
        f"through the gateway         p50 {o['gateway_ms']['p50']:7.2f} ms   p99 {o['gateway_ms']['p99']:7.2f} ms",
        f"router (in the gateway)     p50 {o['router_ms']['p50']:7.2f} ms   p99 {o['router_ms']['p99']:7.2f} ms",
        f"gateway adds                p50 {o['added_ms_p50']:7.2f} ms   (x{o['ratio_p50']:.2f} of a direct call)",
        f"  beyond the router's time  p50 {o['added_beyond_router_ms_p50']:7.2f} ms   (target < 3 ms)",
        f"  of which: gateway→worker call p50 {o['worker_call_ms_p50']:.2f} ms, HTTP in/out + validation + "
        f"serialisation p50 {o['outside_service_ms_p50']:.2f} ms",
    ]
    for r in results["router"]:
        lines.append(
            f"router latency @ concurrency {r['concurrency']:2d}: p50 {r['router_ms_p50']:7.2f} ms   "
            f"p99 {r['router_ms_p99']:7.2f} ms   {r['requests_per_s']:7.1f} req/s"
        )
    if results.get("note"):
        lines.append(f"note: {results['note']}")
    return "\n".join(lines)
