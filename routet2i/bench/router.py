"""Routing decisions per second and latency, against the encoder-alone floor.

For each torch thread count, one prompt at a time and in batches of ``batch_size``, it times in
the same run (same prompts, interleaved) the encoder alone, the predictor on the encoder's output,
and the whole :meth:`~routet2i.predictor.inference.CheckpointPredictor.predict` call (the predictor port). Without a checkpoint it
builds an untrained predictor with the architecture of ``configs/training.yaml`` and
``n_metrics`` experts (the paper has 10): the cost does not depend on the weights.

Then, per router backend (:mod:`routet2i.predictor.backends`), side by side with one torch thread
and one ONNX Runtime thread (one CPU core), interleaved prompt by prompt and batch by batch:

- latency of one ``predict([prompt])`` at concurrency 1 on typical prompts (at most
  :data:`TYPICAL_TOKENS` tokens, special tokens included), p50 / p95;
- batched prompts/s: ``predict`` on batches of ``batch_size`` consecutive prompts; the row
  ``torch, one pass`` runs each batch as one forward pass padded to its longest prompt, as the
  router did before length buckets (the baseline of the ratios);
- agreement with ``torch`` on every prompt (PartiPrompts by default): Spearman ρ of PRŜ, the
  largest |ΔPRŜ|, and the share of prompts whose tier (cloud iff PRŜ < α) is the same at the
  budgets :data:`BUDGETS`, α from the checkpoint's calibration (or, uncalibrated, the budget's
  quantile of the torch PRŜ); every prompt of the file for a trained checkpoint.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from routet2i.bench.stats import percentile, summary
from routet2i.predictor.backends import BACKENDS

#: A typical prompt has at most this many tokens (the issue's figure: "≤ 30 tokens").
TYPICAL_TOKENS = 30
#: Cloud-share budgets at which decisions are compared.
BUDGETS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: The baseline row of the batched figures: torch, each batch in one pass (no length buckets).
ONE_PASS = "torch, one pass"


def load_prompts(path: Path | None, n: int) -> list[str]:
    """``n`` prompts (cycled; 0: each prompt once): from ``path``, else PartiPrompts in the data
    folder, else generated."""
    from routet2i.config import data_dir
    from routet2i.prompts import prompt_texts

    parti = data_dir() / "partiprompts" / "PartiPrompts.tsv"
    if path is not None:
        prompts = prompt_texts(path)
    elif parti.is_file():
        prompts = prompt_texts(parti)
    else:
        prompts = [f"a photo of {i % 7 + 1} red cubes on a table in a garden, style {i}" for i in range(n or 100)]
    if n == 0:
        return list(dict.fromkeys(prompts))
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
    backends: tuple[str, ...] = BACKENDS,
    agreement: int | None = None,
) -> dict[str, Any]:
    """The router suite; returns the figures (a JSON-able dict). ``agreement``: prompts scored
    for the agreement figures (see :func:`agreement_set`)."""
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
        if backends:
            results["backends"] = compare_backends(
                router,
                backends,
                prompts,
                single,
                batches,
                batch_size,
                Path(tmp) / "onnx",
                agreement_set(prompts_file, prompts, agreement, trained=checkpoint is not None),
            )
        results["load_average_after"] = os.getloadavg()
    return results


def agreement_set(path: Path | None, timed: list[str], n: int | None, *, trained: bool) -> list[str]:
    """The prompts the backends are compared on: the first ``n`` distinct prompts of the file; by
    default all of them for a trained checkpoint, and only the timed ones for the untrained
    stand-in (whose PRŜ mean nothing, so a quick run stays quick)."""
    pool = load_prompts(path, 0) if trained or n is not None else list(dict.fromkeys(timed))
    return pool if n is None else pool[:n]


def typical_prompts(router: Any, prompts: list[str], n: int) -> list[str]:
    """``n`` prompts (cycled) of at most :data:`TYPICAL_TOKENS` tokens."""
    short = [p for p in dict.fromkeys(prompts) if len(router.encoder.tokens(p)) <= TYPICAL_TOKENS] or prompts
    return [short[i % len(short)] for i in range(n)]


def compare_backends(
    reference: Any,
    backends: tuple[str, ...],
    prompts: list[str],
    single: int,
    batches: int,
    batch_size: int,
    onnx_cache: Path,
    agreement_prompts: list[str] | None = None,
) -> dict[str, Any]:
    """The per-backend figures (see the module docstring), one thread each; ``reference``: the
    torch router of the suite (its checkpoint, encoder and calibration are shared)."""
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from routet2i.predictor.inference import CheckpointPredictor

    torch.set_num_threads(1)
    routers: dict[str, Any] = {}
    load_s: dict[str, float] = {}
    for name in backends:
        t0 = time.perf_counter()
        routers[name] = CheckpointPredictor(
            reference.path,
            encoder=reference.encoder,
            batch_size=batch_size,
            num_threads=1,
            backend=name,
            onnx_cache=onnx_cache,
        )
        load_s[name] = time.perf_counter() - t0
    typical = typical_prompts(reference, prompts, single)
    single_ms: dict[str, list[float]] = {name: [] for name in routers}
    for p in typical[:3]:
        for r in routers.values():
            r.predict([p])
    for p in typical:
        for name, r in routers.items():
            t0 = time.perf_counter()
            r.predict([p])
            single_ms[name].append(1000 * (time.perf_counter() - t0))
    calls: dict[str, Any] = {name: r.predict for name, r in routers.items()}
    if "torch" in routers:
        calls = {ONE_PASS: routers["torch"].runtime.run, **calls}
    groups = [prompts[i : i + batch_size] for i in range(0, len(prompts), batch_size)][:batches]
    batch_s: dict[str, float] = dict.fromkeys(calls, 0.0)
    for g in groups:
        for name, call in calls.items():
            t0 = time.perf_counter()
            call(g)
            batch_s[name] += time.perf_counter() - t0
    n_batched = sum(len(g) for g in groups)
    everything = list(dict.fromkeys(agreement_prompts or prompts))
    want = reference.scores(everything)[0] if "torch" not in routers else routers["torch"].scores(everything)[0]
    alphas = {
        b: (reference.calibrated_threshold(b) if reference.calibration is not None else float(np.quantile(want, b)))
        for b in BUDGETS
    }
    rows: list[dict[str, Any]] = []
    for name in calls:
        row: dict[str, Any] = {"backend": name, "prompts_per_s": n_batched / batch_s[name] if batch_s[name] else 0.0}
        if name in routers:
            got = routers[name].scores(everything)[0]
            ms = single_ms[name]
            row.update(
                load_s=load_s[name],
                single_ms={"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95), "count": len(ms)},
                spearman=float(spearmanr(want, got).statistic),
                max_abs_diff=float(np.max(np.abs(got - want))),
                agreement={str(b): float(np.mean((got < a) == (want < a))) for b, a in alphas.items()},
            )
        rows.append(row)
    base = next((r for r in rows if r["backend"] == ONE_PASS), None)
    ref_row = next((r for r in rows if r["backend"] == "torch"), None)
    for row in rows:
        if base is not None and base["prompts_per_s"]:
            row["throughput_ratio"] = row["prompts_per_s"] / base["prompts_per_s"]
        if ref_row is not None and "single_ms" in row:
            row["latency_ratio"] = row["single_ms"]["p50"] / ref_row["single_ms"]["p50"]
    return {
        "typical_max_tokens": TYPICAL_TOKENS,
        "single_calls": len(typical),
        "batched_prompts": n_batched,
        "batch_size": batch_size,
        "agreement_prompts": len(everything),
        "thresholds": {str(b): a for b, a in alphas.items()},
        "threshold_source": "calibration" if reference.calibration is not None else "torch PRŜ quantiles",
        "rows": rows,
    }


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
    if "backends" in results:
        lines += ["", *format_backends(results["backends"])]
    return "\n".join(lines)


def format_backends(figures: dict[str, Any]) -> list[str]:
    """The per-backend figures as a markdown table."""
    budgets = list(figures["thresholds"])
    lines = [
        f"backends, 1 thread each: {figures['single_calls']} single calls on prompts of ≤ {figures['typical_max_tokens']} "
        f"tokens; {figures['batched_prompts']} prompts in batches of {figures['batch_size']}; agreement with torch on "
        f"{figures['agreement_prompts']} prompts, α from the {figures['threshold_source']}",
        "| backend | single ms (p50 / p95) | p50 / torch | batched prompts/s | / torch one pass | Spearman ρ "
        "| max abs ΔPRŜ | same tier at budgets " + " / ".join(budgets) + " | load s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in figures["rows"]:
        ratio = f"{row['throughput_ratio']:.2f}×" if "throughput_ratio" in row else ""
        if "single_ms" not in row:
            lines.append(f"| {row['backend']} | | | {row['prompts_per_s']:.0f} | {ratio} | | | | |")
            continue
        ms = row["single_ms"]
        agree = " / ".join(f"{100 * row['agreement'][b]:.1f}" for b in budgets)
        lines.append(
            f"| {row['backend']} | {ms['p50']:.2f} / {ms['p95']:.2f} | {row.get('latency_ratio', float('nan')):.2f} "
            f"| {row['prompts_per_s']:.0f} | {ratio} | {row['spearman']:.4f} | {row['max_abs_diff']:.2g} "
            f"| {agree} % | {row['load_s']:.1f} |"
        )
    return lines
