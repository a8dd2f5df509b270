"""Routing decisions per second and latency, against the encoder-alone floor.

For each torch thread count, one prompt at a time and in batches of ``batch_size``, it times in
the same run (same prompts, interleaved) the encoder alone, the predictor on the encoder's output,
and the whole :meth:`~routet2i.predictor.inference.CheckpointPredictor.predict` call (the predictor port). Without a checkpoint it
builds an untrained predictor with the architecture of ``configs/training.yaml`` and
``n_metrics`` experts (the paper has 10): the cost does not depend on the weights.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from routet2i.bench.stats import summary


def load_prompts(path: Path | None, n: int) -> list[str]:
    """``n`` prompts (cycled): from ``path``, else PartiPrompts in the data folder, else generated."""
    from routet2i.config import data_dir
    from routet2i.prompts import prompt_texts

    parti = data_dir() / "partiprompts" / "PartiPrompts.tsv"
    if path is not None:
        prompts = prompt_texts(path)
    elif parti.is_file():
        prompts = prompt_texts(parti)
    else:
        prompts = [f"a photo of {i % 7 + 1} red cubes on a table in a garden, style {i}" for i in range(n)]
    return [prompts[i % len(prompts)] for i in range(n)]


def untrained_checkpoint(out: Path, encoder_spec: str, dim: int, n_metrics: int) -> Path:
    """An untrained predictor (default architecture, ``n_metrics`` experts) on ``encoder_spec``,
    saved with the product's checkpoint code: it costs what a trained one costs."""
    import torch

    from routet2i.predictor.architecture import PredictorConfig
    from routet2i.predictor.checkpoint import CheckpointMeta, save_checkpoint
    from routet2i.predictor.model import KeyTokenPredictor
    from routet2i.predictor.settings import TrainingSettings

    arch = PredictorConfig(d_model=dim, n_metrics=n_metrics, **TrainingSettings.load().architecture.model_dump())
    torch.manual_seed(0)
    metrics = [f"metric_{i}" for i in range(n_metrics)]
    meta = CheckpointMeta(
        architecture=arch,
        encoder=encoder_spec,
        metrics=metrics,
        metric_weights=[1.0 / n_metrics] * n_metrics,
        gamma=1.0,
        mu_gaps={"bench": dict.fromkeys(metrics, 0.1)},
        training={"data_id": "untrained (routet2i bench)", "seed": 0},
    )
    return save_checkpoint(out, KeyTokenPredictor(arch), meta)


def time_batches(router: Any, prompts: list[str], batch: int, repeats: int) -> dict[str, dict[str, float]]:
    """ms per call of: the encoder alone, the predictor alone (on that output), the whole
    ``predict`` (the predictor port the gateway calls); 3 warm-up calls first."""
    import torch

    from routet2i.predictor.prompt_features import prompt_feature_tensor

    groups = [prompts[i : i + batch] for i in range(0, len(prompts), batch)][:repeats]
    enc_ms: list[float] = []
    pred_ms: list[float] = []
    total_ms: list[float] = []
    for g in groups[:3]:
        router.predict(g)
    for g in groups:
        t0 = time.perf_counter()
        enc = router.encoder.encode(g)
        t1 = time.perf_counter()
        cues = router.model.config.prompt_features
        with torch.inference_mode():
            router.model(enc.states, enc.mask, prompt_feature_tensor(g, cues) if cues else None)
        t2 = time.perf_counter()
        router.predict(g)
        t3 = time.perf_counter()
        enc_ms.append(1000 * (t1 - t0))
        pred_ms.append(1000 * (t2 - t1))
        total_ms.append(1000 * (t3 - t2))
    return {"encoder_ms": summary(enc_ms), "predictor_ms": summary(pred_ms), "decision_ms": summary(total_ms)}


def run_router_bench(
    *,
    checkpoint: Path | None = None,
    encoder: str = "minilm",
    n_metrics: int = 10,
    prompts_file: Path | None = None,
    single: int = 300,
    batches: int = 20,
    batch_size: int = 64,
    threads: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    """The router suite; returns the figures (a JSON-able dict)."""
    import torch

    from routet2i.encoders.loading import load_encoder
    from routet2i.predictor.inference import CheckpointPredictor

    prompts = load_prompts(prompts_file, max(single, batches * batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            enc = load_encoder(encoder)
            ck = untrained_checkpoint(Path(tmp) / "ck", enc.spec, enc.dim, n_metrics)
            router = CheckpointPredictor(ck, encoder=enc, batch_size=batch_size)
        else:
            router = CheckpointPredictor(checkpoint, batch_size=batch_size)
        results: dict[str, Any] = {
            "encoder": router.encoder_spec,
            "n_metrics": router.meta.architecture.n_metrics,
            "architecture": router.meta.architecture.to_dict(),
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg(),
            "runs": [],
        }
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for batch, repeats in ((1, single), (batch_size, batches)):
                figures = time_batches(router, prompts, batch, repeats)
                decision = figures["decision_ms"]
                results["runs"].append(
                    {
                        "threads": n_threads,
                        "batch": batch,
                        "calls": repeats,
                        **figures,
                        "decisions_per_s": 1000.0 * batch / decision["p50"],
                        "predictor_over_encoder": figures["predictor_ms"]["p50"] / figures["encoder_ms"]["p50"],
                    }
                )
        results["load_average_after"] = os.getloadavg()
    return results


def format_router(results: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    lines = [
        f"encoder {results['encoder']}, {results['n_metrics']} metrics, {results['cpu_count']} CPUs, load average "
        f"before/after: {results['load_average_before'][0]:.2f} / {results['load_average_after'][0]:.2f}",
        "| threads | batch | encoder ms (p50 / p90) | predictor ms (p50 / p90) | decision ms (p50 / p90) "
        "| predictor / encoder | decisions per s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        e, p, d = run["encoder_ms"], run["predictor_ms"], run["decision_ms"]
        lines.append(
            f"| {run['threads']} | {run['batch']} | {e['p50']:.2f} / {e['p90']:.2f} | {p['p50']:.2f} / {p['p90']:.2f} "
            f"| {d['p50']:.2f} / {d['p90']:.2f} | {100 * run['predictor_over_encoder']:.1f} % "
            f"| {run['decisions_per_s']:.0f} |"
        )
    return "\n".join(lines)
