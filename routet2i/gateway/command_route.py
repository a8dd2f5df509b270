"""Route prompts: print the predicted superiority and the tier for each, one JSON object a line.

Each line: ``prompt``, ``prs`` (PRŜ: > 0.5 the edge is predicted better), ``metrics`` (D̂ per
metric), ``tier`` (``edge`` | ``cloud``: cloud iff prs < threshold) and ``threshold`` (α). The
threshold is ``--threshold``, else the checkpoint's calibrated α for ``--budget``, else 0.5 (no
budget: the cloud exactly when it is predicted better). ``--weights`` routes for other metric weights
than the checkpoint's (PRŜ = Σ w_i D̂_i; a budget then needs a calibration made with them). Prompts come as arguments, or from
``--input`` (one a line, or JSONL with ``prompt``; ``-`` for stdin). Throughput goes to stderr.
Without ``--checkpoint`` the gateway settings' ``router.checkpoint`` is used, else the
packaged default router (routet2i/data/router).

examples:
  routet2i route --checkpoint runs/router "a red cube on a blue sphere"
  routet2i route --checkpoint runs/router --input prompts.txt --budget 0.3 > decisions.jsonl
  routet2i route --weights alignment=1 "a red car next to two blue bicycles"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from routet2i.cli_options import add_batch_size, add_device, add_gateway_config, add_threads, add_weights

HELP = "predict PRŜ and the tier (edge/cloud) for prompts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts to route")
    parser.add_argument("--input", type=Path, metavar="FILE", help="prompts file (text or JSONL; - for stdin)")
    parser.add_argument(
        "--checkpoint", type=Path, metavar="DIR", help="checkpoint folder (default: the packaged router)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--budget", type=float, metavar="SHARE", help="cloud share in [0, 1] (calibrated threshold)")
    group.add_argument("--threshold", type=float, metavar="ALPHA", help="explicit threshold α")
    add_gateway_config(parser, use="and router are the defaults")
    add_weights(parser, default_text="the checkpoint's own")
    add_batch_size(parser, 64)
    add_device(parser, "cpu", auto=True)
    add_threads(parser)
    parser.add_argument("--output", type=Path, metavar="FILE", help="write JSON lines here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from routet2i.errors import DataError
    from routet2i.gateway.settings import GatewaySettings
    from routet2i.predictor.inference import CheckpointPredictor
    from routet2i.prompts import prompt_texts
    from routet2i.routing.budget import BudgetController
    from routet2i.routing.rule import choose_tier
    from routet2i.routing.tiers import Tiers
    from routet2i.superiority import parse_metric_weights

    prompts = list(args.prompts)
    if args.input is not None:
        prompts += prompt_texts(args.input)
    if not prompts:
        raise DataError("no prompt: pass prompts as arguments or --input FILE")
    gateway = GatewaySettings.load(args.config)
    predictor = CheckpointPredictor(
        args.checkpoint or gateway.router.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        num_threads=args.threads,
        metric_weights=parse_metric_weights(args.weights) or gateway.router.metric_weights,
        backend=gateway.router.backend,
    )
    tiers = Tiers()
    if args.threshold is not None:
        threshold = float(args.threshold)
    elif args.budget is not None:
        threshold = predictor.threshold_for_budget(args.budget)
    else:  # the gateway's own rule, before any live traffic
        threshold, source = BudgetController(gateway.budget, predictor.calibrated_threshold, tiers).threshold(0.0)
        print(
            f"threshold {threshold:.4f} ({source}) for the gateway's budget: "
            f"cloud_share {gateway.budget.cloud_share} ({args.config or 'configs/gateway.yaml'})",
            file=sys.stderr,
        )
    t0 = time.perf_counter()
    predictions = predictor.predict(prompts)
    tiers_chosen = [choose_tier(p.prs, threshold, tiers)[0] for p in predictions]
    elapsed = time.perf_counter() - t0
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    try:
        for prompt, p, tier in zip(prompts, predictions, tiers_chosen, strict=True):
            line = {"prompt": prompt, "prs": p.prs, "metrics": dict(p.metrics), "tier": tier, "threshold": threshold}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    n_cloud = sum(t == tiers.expensive for t in tiers_chosen)
    print(
        f"routed {len(prompts)} prompts in {elapsed:.3f} s ({len(prompts) / max(elapsed, 1e-9):.1f} prompts/s, "
        f"{1000 * elapsed / len(prompts):.2f} ms/prompt); {tiers.expensive} {n_cloud}/{len(prompts)}",
        file=sys.stderr,
    )
    return 0
