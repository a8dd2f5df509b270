"""Train the router's quality predictor from rated prompts and write a checkpoint folder.

For each pair (edge model vs cloud model within a dataset) the ratings give per-prompt quality
of both; the targets are the per-metric relative superiority D_i and PRS (DESIGN §1), with the mu
gaps measured on that pair's training prompts only. Prompts are split by the sha1 of their text
into train / validation / calibration (configs/training.yaml ``split``). Token states of the
frozen encoder are computed once; the predictor trains with Adam and early stopping on the
validation loss. At the end it prints (and stores in config.json) on the validation split and
on the held-out calibration split: MSE of D̂, Spearman of PRŜ vs PRS, and PGR@50 (the share of
the all-cloud quality gain reached when the 50 % lowest PRŜ go to the cloud), and calibrates α
for the configured budgets on the calibration split.

examples:
  routet2i import-ratings genai-bench-527 --out /tmp/genai.jsonl
  routet2i train --ratings /tmp/genai.jsonl --pair genai-bench-527/SDXL_Turbo:DALLE_3 --out runs/router
  routet2i train --ratings a.jsonl --ratings b.jsonl --pair agiqa-3k/sd1.5_normal:midjourney_normal \\
      --pair genai-bench-527/SDXL_2_1:DALLE_3 --out runs/pooled --encoder hf:stabilityai/sd-turbo#text_encoder
  routet2i train --ratings r.jsonl --edge SDXL_Turbo --cloud DALLE_3 --out runs/r --epochs 20 --lr 1e-3
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from routet2i.cli_options import add_batch_size, add_device, add_progress, show_progress

HELP = "train the router's quality predictor (D̂ per metric, PRŜ) from a ratings table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratings", action="append", required=True, metavar="FILE", help="ratings JSONL (repeatable)")
    parser.add_argument(
        "--pair", action="append", default=[], metavar="DATASET/EDGE:CLOUD", help="a pair to learn (repeatable)"
    )
    parser.add_argument("--edge", metavar="MODEL", help="edge model (single pair, with --cloud)")
    parser.add_argument("--cloud", metavar="MODEL", help="cloud model (single pair, with --edge)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="checkpoint folder to write")
    parser.add_argument("--config", type=Path, metavar="FILE", help="training settings (default configs/training.yaml)")
    parser.add_argument(
        "--encoder",
        metavar="SPEC",
        help="encoder spec: minilm | hf:<repo or dir>[#subfolder] | open_clip:<model>/<pretrained>",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    add_batch_size(parser, None, unit="mini-batch size", default_text="from the settings: optimisation.batch_size")
    parser.add_argument("--seed", type=int, help="random seed (init, order, dropout)")
    parser.add_argument("--cache-dir", metavar="DIR", help="keep token states on disk here between runs")
    add_device(parser, None, default_text="from the settings: cpu")
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    from routet2i.config import validate_or_explain
    from routet2i.errors import ConfigError
    from routet2i.predictor.pipeline import train_predictor
    from routet2i.predictor.settings import OptimisationSettings, TrainingSettings
    from routet2i.ratings.pairs import PairSpec
    from routet2i.ratings.table import RatingsTable

    specs = [PairSpec.parse(p) for p in args.pair]
    if args.edge or args.cloud:
        if not (args.edge and args.cloud):
            raise ConfigError("--edge and --cloud go together")
        specs.append(PairSpec(edge=args.edge, cloud=args.cloud))
    if not specs:
        raise ConfigError("name a pair: --pair DATASET/EDGE:CLOUD (repeatable) or --edge MODEL --cloud MODEL")

    settings = TrainingSettings.load(args.config)
    opt_over = {
        k: v
        for k, v in {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed}.items()
        if v is not None
    }
    update: dict[str, Any] = {}
    if opt_over:
        update["optimisation"] = validate_or_explain(
            OptimisationSettings, {**settings.optimisation.model_dump(), **opt_over}, "command line"
        )
    for key in ("encoder", "cache_dir", "device"):
        value = getattr(args, key)
        if value is not None:
            update[key] = value
    settings = settings.model_copy(update=update)

    table = RatingsTable.read(*args.ratings)
    sources = [{"path": str(p), "sha1": _sha1(Path(p))} for p in args.ratings]
    report = train_predictor(table, specs, settings, args.out, sources=sources, progress=show_progress(args.progress))

    fit = report.fit
    print(f"checkpoint: {report.checkpoint}")
    print(f"encoder: {report.meta.encoder}; metrics: {', '.join(report.meta.metrics)}")
    print(f"epochs run: {fit.epochs_run}, best epoch: {fit.best_epoch}, best validation loss: {fit.best_val_loss:.4f}")
    for name, figs in (("validation", report.validation), ("held-out (calibration split)", report.held_out)):
        if figs:
            print(f"{name}: " + json.dumps({k: round(v, 4) for k, v in figs.items()}))
    cal = report.meta.calibration or {}
    print("thresholds (budget → α): " + json.dumps(cal.get("thresholds", {})))
    return 0


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
