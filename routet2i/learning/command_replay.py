"""Replay a rated pair as live traffic through the learner, to measure learning before deploying it.

The prompts of ``--pair DATASET/EDGE:CLOUD`` (from the ``--ratings`` tables) arrive in a seeded
random order, starting from ``--router`` (default: the packaged router). A ``--shadow-rate``
share reveal both tiers' ratings to the learner, which retrains every ``--retrain-every`` shadow
pairs and promotes a candidate only when it beats the live router on pairs neither trained on.
Writes ``DIR/results.json`` (``pair``, ``shadow_rate``, ``n_prompts``, ``n_shadow``,
``apgr_start``, ``apgr_final``, ``promotions``, the learning curves) and ``DIR/learning.png``.

A router that trained on the replayed dataset flatters the start (and leaves little to learn):
start from one trained without it, as the benchmark in docs/LEARNING.md does.

Example::

    routet2i import-ratings genai-bench-527 --out runs/genai.jsonl
    routet2i replay --ratings runs/genai.jsonl --pair genai-bench-527/SDXL_Turbo:DALLE_3 \\
        --shadow-rate 0.25 --repeats 5 --out runs/replay-turbo-dalle
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from routet2i.cli_options import add_device

HELP = "replay a rated pair as live traffic through the learner (learning curve, results.json)"

log = logging.getLogger("routet2i.learning")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from routet2i.predictor.correction import CORRECTION_KINDS

    parser.add_argument(
        "--ratings", type=Path, action="append", required=True, help="ratings table (JSONL), repeatable"
    )
    parser.add_argument("--pair", required=True, help="DATASET/EDGE:CLOUD (or EDGE:CLOUD) to replay")
    parser.add_argument("--router", type=Path, default=None, help="starting checkpoint (default: the packaged router)")
    parser.add_argument("--shadow-rate", type=float, default=0.25, help="share of prompts shadowed (default 0.25)")
    parser.add_argument("--retrain-every", type=int, default=50, help="retrain after N new shadow pairs (default 50)")
    parser.add_argument(
        "--fit", choices=CORRECTION_KINDS, default="blend", help="what the learner fits (default blend)"
    )
    parser.add_argument("--margin", type=float, default=0.0, help="APGR a candidate must win by (default 0)")
    parser.add_argument("--confidence", type=float, default=0.95, help="one-sided confidence of a win (default 0.95)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="seeded orders; means and spread (default 5)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and learning.png")
    add_device(parser, use="for the router and its encoder")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import numpy as np

    from routet2i.errors import DataError
    from routet2i.evaluation.embeddings import embed
    from routet2i.evaluation.views import aggregate_view
    from routet2i.learning.learner import LearnerPolicy
    from routet2i.learning.promotion import PromotionRule
    from routet2i.learning.replay import replay_once, summarise
    from routet2i.predictor.correction import prior_scores
    from routet2i.predictor.inference import CheckpointPredictor, resolve_checkpoint
    from routet2i.ratings.pairs import PairSpec, build_pair
    from routet2i.ratings.table import RatingsTable

    if args.repeats < 1:
        raise DataError("--repeats must be at least 1")
    spec = PairSpec.parse(args.pair)
    pair = build_pair(RatingsTable.read(*args.ratings), spec)
    view = aggregate_view(pair)
    keep = np.flatnonzero(view.present())
    if keep.size < 20:
        raise DataError(f"pair {spec}: {keep.size} prompts rated on both tiers; replay needs at least 20")
    prompts = [pair.prompts[i] for i in keep]
    qe, qc = view.q_edge[keep], view.q_cloud[keep]

    checkpoint = resolve_checkpoint(args.router)
    router = CheckpointPredictor(checkpoint, device=args.device)
    seen = _seen_datasets(router.meta.training)
    if spec.dataset and spec.dataset in seen:
        log.warning(
            "the router %s trained on %s: its start is flattered, and little is left to learn", checkpoint, spec.dataset
        )
    prs, _ = router.scores(prompts)
    prior = prior_scores(np.asarray(prs))
    x = embed(prompts, router.encoder)

    policy = LearnerPolicy(
        retrain_every=args.retrain_every,
        fit=args.fit,
        rule=PromotionRule(margin=args.margin, confidence=args.confidence),
        seed=args.seed,
    )
    runs = [
        replay_once(prior, x, qe, qc, shadow_rate=args.shadow_rate, policy=policy, seed=args.seed + k)
        for k in range(args.repeats)
    ]
    results: dict[str, Any] = {
        "pair": str(spec),
        "shadow_rate": args.shadow_rate,
        **summarise(runs),
        "router": {"checkpoint": str(checkpoint), "data_id": router.meta.training.get("data_id"), "trained_on": seen},
        "policy": policy.model_dump(mode="json"),
        "runs": [asdict(r) for r in runs],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    print(
        f"{spec}: {len(prompts)} prompts, {results['n_shadow']:.0f} shadowed; APGR start {results['apgr_start']:.3f}"
        f" -> final {results['apgr_final']:.3f} (gain {results['apgr_gain']:+.3f} ± {results['apgr_gain_sd']:.3f},"
        f" {results['promotions']:.1f} promotions) -> {args.out / 'results.json'}",
        file=sys.stderr,
    )
    _plot(runs, str(spec), args.out / "learning.png")
    return 0


def _seen_datasets(training: dict[str, Any]) -> list[str]:
    """The datasets a checkpoint's training pairs came from (``DATASET/EDGE:CLOUD``)."""
    pairs = training.get("pairs") or []
    return sorted({str(p).split("/", 1)[0] for p in pairs if "/" in str(p)})


def _plot(runs: list[Any], title: str, path: Path) -> None:
    """The learning curves: APGR on the traffic not yet seen against shadow pairs seen."""
    from routet2i.evaluation.plot import can_plot

    if not can_plot():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        pts = [(c.n_shadow, c.apgr_unseen) for c in r.curve if c.apgr_unseen is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", alpha=0.7, label=f"seed {r.seed}")
        for c in r.curve:
            if c.promoted and c.apgr_unseen is not None:
                ax.axvline(c.n_shadow, color="grey", alpha=0.2)
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("shadow pairs seen")
    ax.set_ylabel("APGR of the live router on unseen traffic")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
