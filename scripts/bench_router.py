"""Benchmark the routing decision on this machine: encoder alone (the floor) vs the full decision.

For each torch thread count, one prompt at a time and in batches of ``--batch-size``, it times in
the same run (same prompts, interleaved) the encoder alone and the predictor on the encoder's
output, and the whole ``Router.decide_batch`` call. Without ``--checkpoint`` it builds an untrained
predictor with the architecture of configs/training.yaml and ``--n-metrics`` experts (the paper
has 10): the cost does not depend on the weights.

    python scripts/bench_router.py                       # MiniLM, PartiPrompts, threads 1 and 2
    python scripts/bench_router.py --checkpoint runs/router --threads 2 --json bench.json

Prints a markdown table (milliseconds per prompt or per batch: median and p90) and the machine's
load average, since other work on the machine inflates every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def load_prompts(path: Path | None, n: int) -> list[str]:
    """``n`` prompts: from ``path``, else PartiPrompts in the data folder, else generated."""
    from routet2i.config import data_dir
    from routet2i.prompts import prompt_texts

    if path is not None:
        prompts = prompt_texts(path)
    else:
        tsv = data_dir() / "partiprompts" / "PartiPrompts.tsv"
        if tsv.is_file():
            with tsv.open(encoding="utf-8") as f:
                prompts = [row["Prompt"] for row in csv.DictReader(f, delimiter="\t") if row.get("Prompt")]
        else:
            prompts = [f"a photo of {i % 7 + 1} red cubes on a table in a garden, style {i}" for i in range(n)]
    return [prompts[i % len(prompts)] for i in range(n)]


def build_checkpoint(out: Path, n_metrics: int, encoder_spec: str, dim: int) -> Path:
    import torch

    from routet2i.predictor.architecture import PredictorConfig
    from routet2i.predictor.checkpoint import CheckpointMeta, save_checkpoint
    from routet2i.predictor.model import KeyTokenPredictor
    from routet2i.predictor.settings import TrainingSettings

    arch = PredictorConfig(d_model=dim, n_metrics=n_metrics, **TrainingSettings.load().architecture.model_dump())
    torch.manual_seed(0)
    model = KeyTokenPredictor(arch)
    meta = CheckpointMeta(
        architecture=arch,
        encoder=encoder_spec,
        metrics=[f"metric_{i}" for i in range(n_metrics)],
        metric_weights=[1.0 / n_metrics] * n_metrics,
        gamma=1.0,
        mu_gaps={},
        training={"note": "untrained, for benchmarking"},
    )
    return save_checkpoint(out, model, meta)


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "mean": statistics.fmean(ordered),
    }


def bench(router: Any, prompts: list[str], batch: int, repeats: int) -> dict[str, dict[str, float]]:
    """ms per call of: encoder alone, predictor alone (on that output), whole decide_batch."""
    import torch

    groups = [prompts[i : i + batch] for i in range(0, len(prompts), batch)][:repeats]
    enc_ms: list[float] = []
    pred_ms: list[float] = []
    total_ms: list[float] = []
    for g in groups[:3]:  # warm-up
        router.decide_batch(g)
    for g in groups:
        t0 = time.perf_counter()
        enc = router.encoder.encode(g)
        t1 = time.perf_counter()
        with torch.inference_mode():
            router.model(enc.states, enc.mask)
        t2 = time.perf_counter()
        router.decide_batch(g)
        t3 = time.perf_counter()
        enc_ms.append(1000 * (t1 - t0))
        pred_ms.append(1000 * (t2 - t1))
        total_ms.append(1000 * (t3 - t2))
    return {"encoder": quantiles(enc_ms), "predictor": quantiles(pred_ms), "decision": quantiles(total_ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a trained checkpoint (default: an untrained one)")
    parser.add_argument("--encoder", default="minilm", help="encoder spec for the untrained checkpoint")
    parser.add_argument("--n-metrics", type=int, default=10, help="experts of the untrained checkpoint (default 10)")
    parser.add_argument("--prompts", type=Path, help="prompts file (default: PartiPrompts)")
    parser.add_argument("--single", type=int, default=300, help="single-prompt decisions to time (default 300)")
    parser.add_argument("--batches", type=int, default=20, help="batches to time (default 20)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to try (default 1,2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    import torch

    from routet2i.encoders.loading import load_encoder
    from routet2i.routing.router import Router

    prompts = load_prompts(args.prompts, max(args.single, args.batches * args.batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint is None:
            encoder = load_encoder(args.encoder)
            ck = build_checkpoint(Path(tmp) / "ck", args.n_metrics, encoder.spec, encoder.dim)
            router = Router(ck, encoder=encoder, batch_size=args.batch_size)
        else:
            router = Router(args.checkpoint, batch_size=args.batch_size)
        results: dict[str, Any] = {
            "encoder": router.encoder_spec,
            "n_metrics": router.meta.architecture.n_metrics,
            "architecture": router.meta.architecture.to_dict(),
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg(),
            "runs": [],
        }
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            for batch, repeats in ((1, args.single), (args.batch_size, args.batches)):
                r = bench(router, prompts, batch, repeats)
                results["runs"].append({"threads": threads, "batch": batch, "calls": repeats, **r})
        results["load_average_after"] = os.getloadavg()

    print(
        f"encoder {results['encoder']}, {results['n_metrics']} metrics, {results['cpu_count']} CPUs, "
        f"load average before/after: {results['load_average_before'][0]:.2f} / {results['load_average_after'][0]:.2f}"
    )
    print(
        "| threads | batch | encoder ms (median / p90) | predictor ms (median / p90) | decision ms (median / p90) "
        "| predictor / encoder | decision ms per prompt |"
    )
    print("|---|---|---|---|---|---|---|")
    for run in results["runs"]:
        e, p, d = run["encoder"], run["predictor"], run["decision"]
        print(
            f"| {run['threads']} | {run['batch']} | {e['median']:.2f} / {e['p90']:.2f} | {p['median']:.2f} / {p['p90']:.2f} "
            f"| {d['median']:.2f} / {d['p90']:.2f} | {100 * p['median'] / e['median']:.1f} % "
            f"| {d['median'] / run['batch']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
