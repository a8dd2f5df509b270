"""Calibrate a checkpoint's routing threshold α for cloud-share budgets on reference prompts.

For each budget ρ, α = min(0.5, the ρ-quantile of PRŜ on the prompts) (the midpoint between the
two PRŜ values around the cut), so that routing to the cloud iff PRŜ < α sends a share ρ of these
prompts to the cloud (within one prompt), or fewer where α hit 0.5: a prompt the edge is
predicted to win never goes to the cloud. The thresholds, the PRŜ quantiles at 0, 0.01, …, 1
(from which the gateway's budget controller can start for any budget) and the prompts' id (sha1
of the file) replace the checkpoint's calibration block in config.json. With ``--weights`` PRŜ is
computed with those metric weights (see ``routet2i route --weights``) and the calibration records
them: it then applies to routers with the same weights only.

Prompts: one a line, or JSON Lines with a ``prompt`` field. Use prompts like the live traffic.
Without ``--budget`` the budgets are the training defaults (0.1 … 0.5) and the cloud share of the
gateway's settings (``--config``, default configs/gateway.yaml), so the gateway finds its own.

example:
  routet2i calibrate --checkpoint runs/router --prompts prompts.txt --budget 0.2 --budget 0.3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from routet2i.cli_options import add_batch_size, add_device, add_gateway_config, add_threads, add_weights

HELP = "calibrate the routing threshold α of a checkpoint for cloud-share budgets"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, type=Path, metavar="DIR", help="checkpoint folder (updated in place)"
    )
    parser.add_argument("--prompts", required=True, type=Path, metavar="FILE", help="reference prompts (text or JSONL)")
    parser.add_argument(
        "--budget",
        action="append",
        type=float,
        metavar="SHARE",
        help="cloud share in [0, 1] (repeatable; default 0.1 … 0.5 and the gateway's cloud_share)",
    )
    add_gateway_config(parser, use="is calibrated by default")
    add_weights(parser, of="PRŜ to calibrate for", default_text="the checkpoint's own; recorded")
    add_batch_size(parser, 64)
    add_device(parser, "cpu", auto=True)
    add_threads(parser)


def run(args: argparse.Namespace) -> int:
    from routet2i.predictor.calibration import calibrate, check_budget, file_id
    from routet2i.predictor.checkpoint import write_meta
    from routet2i.predictor.inference import CheckpointPredictor
    from routet2i.prompts import prompt_texts
    from routet2i.superiority import parse_metric_weights

    budgets = [check_budget(b) for b in (args.budget or default_budgets(args.config))]
    prompts = prompt_texts(args.prompts)
    weights = parse_metric_weights(args.weights)
    router = CheckpointPredictor(
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        num_threads=args.threads,
        metric_weights=weights,
    )
    t0 = time.perf_counter()
    prs, _ = router.scores(prompts)
    elapsed = time.perf_counter() - t0
    print(f"scored {len(prompts)} prompts in {elapsed:.2f} s ({len(prompts) / elapsed:.1f} prompts/s)", file=sys.stderr)
    cal = calibrate(
        prs,
        budgets,
        prompts_id=file_id(args.prompts),
        source=str(args.prompts),
        metric_weights=router.metric_weights if weights is not None else None,
    )
    meta = router.meta
    meta.calibration = cal.to_dict()
    write_meta(args.checkpoint, meta)
    for key, alpha in cal.thresholds.items():
        print(
            json.dumps(
                {
                    "budget": float(key),
                    "threshold": alpha,
                    "cloud_share": cal.cloud_shares[key],
                    "n_prompts": cal.n_prompts,
                }
            )
        )
    return 0


def default_budgets(config: str | None) -> list[float]:
    """The training's calibration budgets and the gateway settings' cloud share, ascending."""
    from routet2i.gateway.settings import GatewaySettings
    from routet2i.predictor.settings import CalibrationSettings

    budgets = set(CalibrationSettings().budgets)
    share = GatewaySettings.load(config).budget.cloud_share
    if share is not None:
        budgets.add(share)
    return sorted(budgets)
