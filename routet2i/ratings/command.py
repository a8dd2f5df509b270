"""Import a rated text-to-image dataset into the ratings table (JSONL).

Reads the dataset where it lies (``--data-dir``, default ``$ROUTET2I_DATA_DIR`` or
``../shared/data``), never copying it, and writes one row per (prompt, model, metric) with the
raters' mean, their count and their individual scores. Prints a summary per model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "import a rated dataset (genai-bench-527, agiqa-3k, tifa-human) into a ratings table"

DATASETS = ("genai-bench-527", "agiqa-3k", "tifa-human")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=DATASETS, help="which dataset")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding the datasets")
    parser.add_argument("--out", type=Path, required=True, help="ratings table to write (JSONL)")


def run(args: argparse.Namespace) -> int:
    from statistics import fmean

    from routet2i.config import data_dir
    from routet2i.ratings.importers import import_dataset

    table = import_dataset(args.name, args.data_dir or data_dir())
    table.write(args.out)
    prompts = {(r.dataset, r.prompt_id) for r in table}
    print(f"{args.name}: {len(table)} rows, {len(prompts)} prompts -> {args.out}", file=sys.stderr)
    for model in table.models():
        for metric in table.metrics():
            scores = [r.score for r in table if r.model == model and r.metric == metric]
            if scores:
                print(f"  {model:24s} {metric:14s} n={len(scores):4d} mean={fmean(scores):.3f}", file=sys.stderr)
    return 0
