"""Route prompts: print the predicted superiority and the tier for each, one JSON object a line.

Each line: ``prompt``, ``prs`` (PRŜ: > 0.5 the edge is predicted better), ``metrics`` (D̂ per
metric), ``tier`` (``edge`` | ``cloud``: cloud iff prs < threshold) and ``threshold`` (α). The
threshold is ``--threshold``, else the checkpoint's calibrated α for ``--budget``, else 0.5 (no
budget: the cloud exactly when it is predicted better). ``--weights`` routes for other metric weights
than the checkpoint's (PRŜ = Σ w_i D̂_i; a budget then needs a calibration made with them). Prompts come as arguments, or from
``--input`` (one a line, or JSONL with ``prompt``; ``-`` for stdin). Throughput goes to stderr.
Without ``--checkpoint`` the packaged default router (routet2i/data/router) is used.

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
    parser.add_argument(
        "--weights",
        default="",
        metavar="NAME=W,…",
        help="metric weights of PRŜ, e.g. alignment=1 (default: the checkpoint's own)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per forward pass (default 64)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write JSON lines here instead of stdout")


def run(args: argparse.Namespace) -> int:
    from routet2i.errors import DataError
    from routet2i.prompts import prompt_texts
    from routet2i.routing.router import Router
    from routet2i.superiority import parse_metric_weights

    prompts = list(args.prompts)
    if args.input is not None:
        prompts += prompt_texts(args.input)
    if not prompts:
        raise DataError("no prompt: pass prompts as arguments or --input FILE")
    router = Router(
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        num_threads=args.threads,
        metric_weights=parse_metric_weights(args.weights),
    )
    threshold = args.threshold
    if args.budget is not None:
        threshold = router.threshold_for_budget(args.budget)
    t0 = time.perf_counter()
    decisions = router.decide_batch(prompts, threshold)
    elapsed = time.perf_counter() - t0
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    try:
        for prompt, d in zip(prompts, decisions, strict=True):
            out.write(json.dumps({"prompt": prompt, **d.to_dict()}, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    n_cloud = sum(d.tier == "cloud" for d in decisions)
    print(
        f"routed {len(prompts)} prompts in {elapsed:.3f} s ({len(prompts) / max(elapsed, 1e-9):.1f} prompts/s, "
        f"{1000 * elapsed / len(prompts):.2f} ms/prompt); cloud {n_cloud}/{len(prompts)}",
        file=sys.stderr,
    )
    return 0
