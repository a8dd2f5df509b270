"""The gateway's own overhead against calling a worker directly, and the router's latency.

Starts, as separate processes on 127.0.0.1, a *fast worker* (:mod:`routet2i.bench.fault_worker`
without an upstream: it answers at once with a fixed 8x8 PNG, so the worker costs almost nothing)
and the real gateway (``routet2i gateway``) with both tiers pointed at it and no budget cap, and
the router checkpoint given (default: the packaged one; without either, an *untrained* predictor
on the default MiniLM encoder, saved through the product's checkpoint code: the timings are those
of a trained one). Then, from this process:

1. **overhead**: sequential requests, interleaved in a rotating order (:data:`VARIANTS`):
   straight to the fast worker (``/v1/generate``), through a bare forwarding proxy (the fault
   worker with ``--upstream``, the same HTTP client and server stack: the floor of any HTTP hop),
   and through the gateway (``/generate``) forced to a tier (no router), with a repeated prompt
   (the prediction cache answers) and with a new prompt each time (the router runs): p50 and p99
   of each, what each adds over the direct call, and for the last the extra time *beyond the
   router's own encode-and-predict time* (each request minus its ``routing.router_ms``);
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

from routet2i.bench.interleave import Request, rotated_latencies
from routet2i.bench.load import PROMPTS
from routet2i.bench.stats import percentile

#: The ways one request is sent in the overhead suite, each iteration in a rotated order (so no
#: variant always runs first or last): straight to the fast worker; through a bare forwarding
#: proxy (the floor any HTTP hop costs); through the gateway with a forced tier (no router);
#: through the gateway with a prompt it has seen (the prediction cache answers); and with a new
#: prompt (the router runs).
VARIANTS = ("direct", "passthrough", "forced", "cached", "auto")


async def overhead(
    gw: str, worker: str, passthrough: str, headers: dict[str, str], prompts: list[str], n: int
) -> dict[str, Any]:
    """Sequential requests of each of :data:`VARIANTS`, rotated
    (:func:`~routet2i.bench.interleave.rotated_latencies`), ``n`` of each after 20 warm-up
    rounds: p50 / p99 of each (ms), what each adds over a direct call at the median, and for ``auto``
    the router's own time and what the gateway adds beyond it."""
    import httpx

    router: list[float] = []
    worker_call: list[float] = []
    outside: list[float] = []

    def fresh(i: int) -> str:  # a prompt never seen before, for "auto" (else the cache would answer)
        return f"{prompts[i % len(prompts)]}, variant {i}"

    def request(variant: str, i: int) -> Request:
        body = {"prompt": fresh(i), "seed": i, "width": 512, "height": 512}
        if variant in ("direct", "passthrough"):
            return f"{worker if variant == 'direct' else passthrough}/v1/generate", body, {}
        if variant == "forced":
            return f"{gw}/generate", {**body, "route": "edge"}, headers
        return f"{gw}/generate", {**body, "prompt": fresh(i) if variant == "auto" else prompts[0]}, headers

    def on_answer(variant: str, r: httpx.Response, elapsed: float) -> None:
        if variant == "auto":
            answer = r.json()
            router.append(float(answer["routing"]["router_ms"]))
            worker_call.append(float(answer["timings"]["worker_ms"]))
            outside.append(elapsed - float(answer["timings"]["total_ms"]))

    async with httpx.AsyncClient(timeout=30) as client:
        times = await rotated_latencies(client, VARIANTS, n, request, on_answer)
    med = {v: statistics.median(t) for v, t in times.items()}
    out: dict[str, Any] = {"requests": n}
    for v, t in times.items():
        out[f"{v}_ms"] = {"p50": med[v], "p99": percentile(t, 0.99)}
        if v != "direct":
            out[f"{v}_added_ms_p50"] = med[v] - med["direct"]
    out.update(
        {
            "router_ms": {"p50": statistics.median(router), "p99": percentile(router, 0.99)},
            # the gateway's call to the worker, and the time outside the service's own path (HTTP
            # in and out, validation, serialisation), per request
            "worker_call_ms_p50": statistics.median(worker_call),
            "outside_service_ms_p50": statistics.median(outside),
            "ratio_p50": med["auto"] / med["direct"],
            "added_beyond_router_ms_p50": statistics.median([t - r for t, r in zip(times["auto"], router, strict=True)])
            - med["direct"],
        }
    )
    return out


async def router_latency(
    gw: str, headers: dict[str, str], prompts: list[str], n: int, concurrency: int
) -> dict[str, Any]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    router: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int, phase: str = "run") -> None:
            async with sem:
                # a new prompt each time: the router's latency, not the prediction cache's
                body = {"prompt": f"{prompts[i % len(prompts)]}, {phase} {concurrency}-{i}", "seed": i}
                r = await client.post(f"{gw}/generate", json=body, headers=headers)
                r.raise_for_status()
                router.append(float(r.json()["routing"]["router_ms"]))

        await asyncio.gather(*(one(i, "warm-up") for i in range(min(n, 2 * concurrency))))
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
    *,
    checkpoint: Path | None = None,
    requests: int = 300,
    workdir: Path | None = None,
    litellm: Path | None = None,
    repeats: int = 3,
    backend: str | None = None,
) -> dict[str, Any]:
    """The overhead suite; returns the figures (a JSON-able dict). ``litellm``: a LiteLLM venv
    (or its ``litellm`` command) to compare with on the OpenAI Images API
    (:mod:`routet2i.bench.litellm_compare`, ``repeats`` rounds). ``backend``: the gateway's
    ``router.backend`` (default: the gateway's default)."""
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
        worker_port, gw_port, proxy_port = free_port(), free_port(), free_port()
        worker_url, gw_url = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{gw_port}"
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        config = gateway_config(
            worker_url,
            worker_url,
            checkpoint,
            gw_port,
            router={"max_wait_ms": 2, **({"backend": backend} if backend else {})},
            budget={"cloud_share": None},
            limits={
                "min_size": 64,
                "max_size": 1024,
                "default_width": 512,
                "default_height": 512,
                "max_in_flight": 4096,
            },
            health={"interval_s": 30},
        )
        env = child_env()
        worker = ManagedProcess(
            "fast-worker",
            [sys.executable, "-m", "routet2i.bench.fault_worker", "--port", str(worker_port)],
            tmp / "worker.log",
            env=env,
        )
        proxy = ManagedProcess(
            "passthrough",
            [sys.executable, "-m", "routet2i.bench.fault_worker", "--port", str(proxy_port), "--upstream", worker_url],
            tmp / "passthrough.log",
            env=env,
        )
        gateway = ManagedProcess(
            "gateway",
            routet2i_argv("gateway", "--config", str(write_yaml(tmp / "gateway.yaml", config)), log_level="WARNING"),
            tmp / "gateway.log",
            env=env,
        )
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        litellm_proc = litellm_url = None
        if litellm is not None:
            from routet2i.bench import litellm_compare as lc

            executable = lc.litellm_executable(litellm)
            litellm_url = f"http://127.0.0.1:{free_port()}"
            cfg = write_yaml(tmp / "litellm.yaml", lc.litellm_config(f"{worker_url}/v1"))
            litellm_proc = ManagedProcess(
                "litellm",
                [str(executable), "--config", str(cfg), "--host", "127.0.0.1", "--port", litellm_url.rsplit(":", 1)[1]],
                tmp / "litellm.log",
                env=lc.litellm_env(),
            )
        try:
            worker.start()
            proxy.start()
            gateway.start()
            worker.wait_ready(worker_url)
            proxy.wait_ready(proxy_url)
            gateway.wait_ready(gw_url)
            if litellm_proc is not None:
                litellm_proc.start()
            prompts = list(PROMPTS)
            results: dict[str, Any] = {
                "overhead": asyncio.run(overhead(gw_url, worker_url, proxy_url, headers, prompts, requests))
            }
            results["router"] = [asyncio.run(router_latency(gw_url, headers, prompts, requests, c)) for c in (1, 32)]
            results["checkpoint"] = httpx.get(f"{gw_url}/v1/models", headers=headers).json().get("router")
            results["gateway_rss_mib"] = gateway.rss_bytes() / 2**20  # resident memory after the runs
            results["backend"] = backend or "default"
            results["note"] = note
            if litellm_proc is not None and litellm_url is not None and litellm is not None:
                from routet2i.bench import litellm_compare as lc

                litellm_proc.wait_ready(litellm_url, path="/health/liveliness")
                targets = lc.Targets(worker_url, litellm_url, gw_url, headers)
                pids = {"gateway": gateway.pid, "litellm": litellm_proc.pid}
                comparison = lc.compare(targets, pids, prompts, n=requests, repeats=repeats)
                comparison["litellm_version"] = lc.litellm_version(lc.litellm_executable(litellm))
                comparison["litellm_rss_mib"] = litellm_proc.rss_bytes() / 2**20
                results["litellm"] = comparison
        finally:
            if litellm_proc is not None:
                litellm_proc.stop()
            gateway.stop()
            proxy.stop()
            worker.stop()
    return results


def format_overhead(results: dict[str, Any]) -> str:
    o = results["overhead"]
    labels = {
        "direct": "direct to the fast worker",
        "passthrough": "through a bare proxy (floor)",
        "forced": "gateway, forced tier",
        "cached": "gateway, repeated prompt",
        "auto": "gateway, new prompt (router)",
    }
    lines = []
    for v in VARIANTS:
        added = "" if v == "direct" else f"   adds {o[f'{v}_added_ms_p50']:6.2f} ms"
        lines.append(f"{labels[v]:<31} p50 {o[f'{v}_ms']['p50']:7.2f} ms   p99 {o[f'{v}_ms']['p99']:7.2f} ms{added}")
    lines += [
        f"router (in the gateway)         p50 {o['router_ms']['p50']:7.2f} ms   p99 {o['router_ms']['p99']:7.2f} ms",
        f"  new prompt: x{o['ratio_p50']:.2f} of a direct call; beyond the router's time p50 "
        f"{o['added_beyond_router_ms_p50']:.2f} ms",
        f"  of which: gateway→worker call p50 {o['worker_call_ms_p50']:.2f} ms, HTTP in/out + validation + "
        f"serialisation p50 {o['outside_service_ms_p50']:.2f} ms",
    ]
    for r in results["router"]:
        lines.append(
            f"router latency @ concurrency {r['concurrency']:2d}: p50 {r['router_ms_p50']:7.2f} ms   "
            f"p99 {r['router_ms_p99']:7.2f} ms   {r['requests_per_s']:7.1f} req/s"
        )
    if results.get("gateway_rss_mib"):
        lines.append(f"gateway resident memory: {results['gateway_rss_mib']:.0f} MiB")
    if results.get("note"):
        lines.append(f"note: {results['note']}")
    if results.get("litellm"):
        from routet2i.bench.litellm_compare import format_comparison

        lines.append(format_comparison(results["litellm"]))
    return "\n".join(lines)
