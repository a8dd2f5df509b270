"""Benchmarks and reliability checks, on this machine, all traffic on 127.0.0.1.

    routet2i bench router    [--checkpoint DIR] [--single 300] [--batches 20] [--threads 1,2] [--backends torch,onnx]
    routet2i bench worker    [--config YAML | --model ID] [--requests 32] [--threads 1]
    routet2i bench overhead  [--checkpoint DIR] [--requests 300] [--litellm VENV] [--repeats 3]
    routet2i bench load      [--clients 200] [--duration 60] [--warmup 5]
    routet2i bench faults    [--clients 50] [--duration 20] [--scenario kill|slow|garbage ...]
    routet2i bench fuzz      [--target gateway|worker|both] [--max-examples 100]

router: routing decisions per second and latency, against the encoder-alone floor. worker:
images per second of a worker, dynamic batching on vs off. overhead: what the gateway adds to a
direct worker call, and the router's latency at concurrency 1 and 32. load: N concurrent clients
for T seconds against the gateway with its workers (statuses, latency percentiles, every request
answered and generated exactly once, the gateway's memory before and after). faults: the load
while the edge worker is killed and restarted, while the cloud is slower than its timeout, while
the cloud answers garbage. fuzz: schemathesis on the gateway's and the worker's OpenAPI schemas
(no 5xx, every answer as documented).

load, faults and fuzz start their own gateway and two workers as processes (the cloud behind a
fault-injecting stand-in); without --edge-config / --cloud-config / --checkpoint they use the
tiny models of routet2i.testing, built in code (measuring the serving machinery, not a model).
Every suite is bounded in count and time and stops its processes; --out writes the figures as
JSON. load, faults and fuzz exit with 1 when a target is missed (see docs/RELIABILITY.md).
docs/PERFORMANCE.md and docs/RELIABILITY.md hold the measured figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "benchmarks and reliability checks: router, worker, overhead, load, faults, fuzz"

SUITES = ("router", "worker", "overhead", "load", "faults", "fuzz")


def _stack_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the suites that start a gateway and two workers."""
    p.add_argument("--edge-config", type=Path, help="edge worker YAML (default: a tiny SD pipeline built in code)")
    p.add_argument("--cloud-config", type=Path, help="cloud worker YAML (default: the same tiny pipeline)")
    p.add_argument("--checkpoint", type=Path, help="router checkpoint (default: a tiny calibrated one built in code)")
    p.add_argument("--workdir", type=Path, help="keep configs and process logs here (default: a temporary folder)")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads per process (default 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="suite", metavar="SUITE", required=True)

    p = sub.add_parser("router", help="routing decisions per second vs the encoder alone")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    p.add_argument("--checkpoint", type=Path, help="a trained checkpoint (default: an untrained one)")
    p.add_argument("--encoder", default="minilm", help="encoder spec of the untrained checkpoint (default minilm)")
    p.add_argument("--n-metrics", type=int, default=10, help="experts of the untrained checkpoint (default 10)")
    p.add_argument("--prompts", type=Path, help="prompts file (default: PartiPrompts, else generated)")
    p.add_argument("--single", type=int, default=300, help="single-prompt decisions to time (default 300)")
    p.add_argument("--batches", type=int, default=20, help="batches to time (default 20)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", default="1,2", help="torch thread counts to try (default 1,2)")
    p.add_argument(
        "--backends",
        default="torch,int8,onnx,onnx-int8",
        help="router backends to compare, one thread each (default: all; empty: none)",
    )
    p.add_argument(
        "--agreement",
        type=int,
        help="prompts the backends' PRŜ and tiers are compared on (default: the whole prompts file with "
        "--checkpoint, the timed prompts without)",
    )

    p = sub.add_parser("worker", help="a worker's images per second, batching on vs off")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    p.add_argument("--config", type=Path, help="a worker YAML to start from")
    p.add_argument("--model", help="hub id or folder (default: a tiny SD pipeline built in a temp dir)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the config's, cpu for tiny)")
    p.add_argument("--dtype", default=None, choices=["auto", "float32", "float16", "bfloat16"])
    p.add_argument("--variant", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (diffusers.cpu_threads)")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--requests", type=int, default=32, help="requests in the burst, n=1 each (default 32)")
    p.add_argument("--rounds", type=int, default=3, help="bursts per mode; the median is reported (default 3)")
    p.add_argument("--max-batch", type=int, default=8, help="batching.max_batch_images when on (default 8)")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="batching.max_wait_ms when on (default 20)")

    p = sub.add_parser("overhead", help="the gateway's overhead over a direct worker call; router latency")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    p.add_argument("--checkpoint", type=Path, help="router checkpoint (default: packaged, else an untrained one)")
    p.add_argument("--requests", type=int, default=300, help="requests per measurement (default 300)")
    p.add_argument(
        "--litellm",
        type=Path,
        metavar="PATH",
        help="a venv with `pip install 'litellm[proxy]'` (or its litellm command): compare on the images API",
    )
    p.add_argument("--repeats", type=int, default=3, help="rounds of the LiteLLM comparison; medians (default 3)")
    p.add_argument(
        "--backend", help="the gateway's router.backend (torch, int8, onnx, onnx-int8; default: its default)"
    )

    p = sub.add_parser("load", help="N concurrent clients for T seconds against the gateway")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    _stack_arguments(p)
    p.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up load before (default 5)")
    p.add_argument(
        "--request-timeout", type=float, default=120.0, help="the gateway's request deadline, s (default 120)"
    )

    p = sub.add_parser("faults", help="a worker killed, slow, or answering garbage, under load")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    _stack_arguments(p)
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per scenario (default 20)")
    p.add_argument("--scenario", action="append", choices=["kill", "slow", "garbage"], help="repeatable (default: all)")
    p.add_argument("--request-timeout", type=float, default=20.0, help="the gateway's request deadline, s (default 20)")
    p.add_argument("--cloud-timeout", type=float, default=3.0, help="the cloud tier's timeout, s (default 3)")

    p = sub.add_parser("ledger", help="what the shared Redis budget ledger adds to a decision over the in-memory one")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    p.add_argument("--decisions", type=int, default=3000, help="timed decisions per ledger (default 3000)")
    p.add_argument("--redis-url", help="a Redis to use (default: start a redis-server on loopback)")

    p = sub.add_parser("replicas", help="1..N gateway processes sharing one Redis budget, under load; checks the caps")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    p.add_argument("--replicas", default="1,2,3", help="gateway counts to run, comma-separated (default 1,2,3)")
    p.add_argument("--requests", type=int, default=600, help="requests per run (default 600)")
    p.add_argument("--clients", type=int, default=48, help="concurrent clients (default 48)")
    p.add_argument("--cloud-share", type=float, default=0.3, help="the shared cloud share cap (default 0.3)")
    p.add_argument("--window", type=int, default=100, help="the share window, decisions (default 100)")
    p.add_argument("--money", type=float, help="a money cap per period too (cloud image 0.01)")
    p.add_argument("--fault", choices=["gateway", "redis"], help="kill one gateway, or Redis, halfway")

    p = sub.add_parser("fuzz", help="schemathesis on the gateway's and the worker's OpenAPI schemas")
    p.add_argument("--out", type=Path, help="also write the figures here as JSON")
    _stack_arguments(p)
    p.add_argument("--target", choices=["gateway", "worker", "both"], default="both")
    p.add_argument("--max-examples", type=int, default=100, help="examples per operation and mode (default 100)")
    p.add_argument("--seed", type=int, default=0)


def _stack(args: argparse.Namespace, workdir: Path, *, clients: int, gateway: dict[str, Any]) -> Any:
    """The stack of a load, faults or fuzz run: the given configs, tiny models for the rest."""
    from routet2i.bench.stack import Stack, build_tiny_router, build_tiny_sd
    from routet2i.config import read_yaml
    from routet2i.testing.demo import tiny_worker_config

    models = workdir / "models"
    sd = build_tiny_sd(models) if args.edge_config is None or args.cloud_config is None else None

    def worker(config: Path | None, name: str, tier: str) -> dict[str, Any]:
        if config is not None:
            return read_yaml(config)
        assert sd is not None
        return tiny_worker_config(sd, name, tier, max_pending=clients + 16)

    return Stack(
        workdir / "stack",
        edge_worker=worker(args.edge_config, "tiny-edge", "edge"),
        cloud_worker=worker(args.cloud_config, "tiny-cloud", "cloud"),
        checkpoint=args.checkpoint or build_tiny_router(models),
        gateway=gateway,
        threads=args.threads,
    )


def _run_suite(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], str]:
    """(figures, text to print) of the suite ``args.suite``."""
    if args.suite == "router":
        from routet2i.bench.router import format_router, run_router_bench

        r = run_router_bench(
            checkpoint=args.checkpoint,
            encoder=args.encoder,
            n_metrics=args.n_metrics,
            prompts_file=args.prompts,
            single=args.single,
            batches=args.batches,
            batch_size=args.batch_size,
            threads=tuple(int(t) for t in args.threads.split(",")),
            backends=tuple(b for b in args.backends.split(",") if b),
            agreement=args.agreement,
        )
        return r, format_router(r)
    if args.suite == "replicas":
        from routet2i.bench.replicas import format_replicas, run_replicas_bench

        r = run_replicas_bench(
            workdir,
            replicas=tuple(int(n) for n in args.replicas.split(",")),
            requests=args.requests,
            clients=args.clients,
            cloud_share=args.cloud_share,
            window=args.window,
            money_per_period=args.money,
            fault=args.fault,
        )
        return r, format_replicas(r)
    if args.suite == "ledger":
        from routet2i.bench.ledger import format_ledger, run_ledger_bench

        r = run_ledger_bench(decisions=args.decisions, redis_url=args.redis_url)
        return r, format_ledger(r)
    if args.suite == "worker":
        from routet2i.bench.worker import format_worker, run_worker_bench

        r = run_worker_bench(
            config=args.config,
            model=args.model,
            requests=args.requests,
            rounds=args.rounds,
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            device=args.device,
            dtype=args.dtype,
            variant=args.variant,
            threads=args.threads,
            width=args.width,
            height=args.height,
            steps=args.steps,
            guidance=args.guidance,
        )
        return r, format_worker(r)
    if args.suite == "overhead":
        from routet2i.bench.overhead import format_overhead, run_overhead_bench

        r = run_overhead_bench(
            checkpoint=args.checkpoint,
            requests=args.requests,
            litellm=args.litellm,
            repeats=args.repeats,
            backend=args.backend,
        )
        return r, format_overhead(r)

    from routet2i.bench.processes import machine
    from routet2i.bench.report import format_faults, format_fuzz, format_load

    info = machine()
    if args.suite == "load":
        from routet2i.bench.load import run_load

        timeout = args.request_timeout
        gateway = {
            "limits": {"request_timeout_s": timeout, "max_in_flight": max(1024, 2 * args.clients)},
            "tiers": {"edge": {"timeout_s": timeout}, "cloud": {"timeout_s": timeout}},
        }
        with _stack(args, workdir, clients=args.clients, gateway=gateway) as stack:
            r = run_load(stack, clients=args.clients, duration_s=args.duration, warmup_s=args.warmup)
        r["machine"] = info
        return r, format_load(r)
    if args.suite == "faults":
        from routet2i.bench.faults import SCENARIOS, run_faults

        gateway = {
            "limits": {"request_timeout_s": args.request_timeout, "max_in_flight": max(1024, 2 * args.clients)},
            "tiers": {"edge": {"timeout_s": args.request_timeout}, "cloud": {"timeout_s": args.cloud_timeout}},
        }
        scenarios = tuple(args.scenario or SCENARIOS)
        with _stack(args, workdir, clients=args.clients, gateway=gateway) as stack:
            r = run_faults(stack, clients=args.clients, duration_s=args.duration, scenarios=scenarios)
        r["machine"] = info
        return r, format_faults(r)
    from routet2i.bench.fuzz import fuzz
    from routet2i.bench.stack import ADMIN_KEY, CLIENT_KEY

    r = {"machine": info}
    with _stack(args, workdir, clients=8, gateway={}) as stack:
        if args.target in ("worker", "both"):
            r["worker"] = fuzz(stack.edge_url, max_examples=args.max_examples, seed=args.seed)
        if args.target in ("gateway", "both"):
            headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Admin-Key": ADMIN_KEY}
            r["gateway"] = fuzz(stack.gateway_url, max_examples=args.max_examples, seed=args.seed, headers=headers)
    return r, format_fuzz(r)


def run(args: argparse.Namespace) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="routet2i-bench-") as tmp:
        workdir = args.workdir if getattr(args, "workdir", None) else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        figures, text = _run_suite(args, workdir)
    print(text)
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    from routet2i.bench.report import all_met

    # 1: a target was missed (the figures above say which); 0: met, or a suite without targets.
    return 0 if all_met(args.suite, figures) else 1
