"""Score images with CLIP on the multi-metric quality set and write ratings-table rows (JSONL).

SOURCE is either a manifest (JSON Lines: image path relative to the manifest's folder, prompt,
model, seed, optional dataset and prompt_id; ``routet2i generate-pairs`` writes one) or a folder
of images. For a folder, --model names the model that made them and each image's prompt comes
from --prompts (a JSON object file name → prompt, or JSONL with image/prompt), else from a
sidecar <name>.txt, else from the file name with --prompt-from-filename.

Each metric i of --metrics (default configs/metrics.yaml) scores
q_i = sigmoid(s * (cos(img, positive_i) - cos(img, negative_i))) in (0, 1), s being the CLIP
model's own logit scale (100 for OpenAI CLIP); --alignment adds the image-prompt cosine as the
metric `alignment`. Rows: one per image and metric, source "clip:<model>/<pretrained>", sample =
seed (file name for a folder), image = its path.

An unreadable or missing image stops the run (--on-error fail, the default) or is skipped, named
in a warning and counted in the summary (--on-error skip).

Examples:
  routet2i score out/pairs/manifest.jsonl --out out/ratings-clip.jsonl
  routet2i score my_images/ --model sd-turbo --prompts prompts.json --out r.jsonl --device cuda --dtype float16
  routet2i score m.jsonl --backend transformers --clip-model openai/clip-vit-large-patch14 --out r.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from routet2i.cli_options import add_batch_size, add_device

if TYPE_CHECKING:
    from routet2i.quality.scorer import QualityScorer

HELP = "score images (a manifest or a folder) with the multi-metric CLIP quality set"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="a JSONL manifest, or a folder of images")
    parser.add_argument("--out", type=Path, required=True, help="ratings table to write (JSONL)")
    parser.add_argument(
        "--model",
        default=None,
        help="the model that made the images (required for a folder; for a manifest, used where a row has none)",
    )
    parser.add_argument("--prompts", type=Path, default=None, help="folder only: image → prompt mapping file")
    parser.add_argument(
        "--prompt-from-filename",
        action="store_true",
        help="folder only: use the file name as the prompt where no other prompt is given",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="dataset of rows that name none (default: the manifest's stem / the folder's name)",
    )
    add_clip_arguments(parser)
    parser.add_argument(
        "--on-error", choices=("fail", "skip"), default="fail", help="on an unreadable or missing image"
    )


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the CLIP scorer (shared by ``score`` and ``learn``)."""
    parser.add_argument("--backend", choices=("open_clip", "transformers"), default="open_clip", help="CLIP library")
    parser.add_argument(
        "--clip-model",
        default=None,
        help="open_clip architecture, hf-hub:… or folder (default ViT-L-14); "
        "transformers repo id or folder (default openai/clip-vit-large-patch14)",
    )
    parser.add_argument(
        "--pretrained", default=None, help="open_clip weights: a tag or a file (default 'openai' with ViT-L-14)"
    )
    parser.add_argument("--metrics", type=Path, default=None, help="metric-set YAML (default configs/metrics.yaml)")
    parser.add_argument(
        "--alignment",
        action="store_true",
        help="also score image-prompt alignment (convention: the metric file's, cosine by default)",
    )
    add_device(parser, "auto", auto=True)
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    add_batch_size(parser, 32, unit="images per forward pass")


def build_scorer(args: argparse.Namespace) -> QualityScorer:
    """The :class:`~routet2i.quality.scorer.QualityScorer` the :func:`add_clip_arguments` options name."""
    from routet2i.errors import ConfigError
    from routet2i.quality.backend import ClipSpec
    from routet2i.quality.loading import load_clip_backend
    from routet2i.quality.metrics import load_metric_set
    from routet2i.quality.scorer import QualityScorer

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    metric_set = load_metric_set(args.metrics)
    if args.alignment:
        metric_set = metric_set.with_alignment(True)
    spec = ClipSpec(args.backend, args.clip_model, args.pretrained, args.device, args.dtype)
    return QualityScorer(load_clip_backend(spec), metric_set, batch_size=args.batch_size)


def run(args: argparse.Namespace) -> int:
    from routet2i.errors import ConfigError, DataError
    from routet2i.pipeline.manifest import read_manifest
    from routet2i.quality.backend import source_name
    from routet2i.quality.folder import entries_from_folder, read_prompt_mapping
    from routet2i.quality.score_run import score_entries

    source: Path = args.source
    if source.is_dir():
        if not args.model:
            raise ConfigError("scoring a folder needs --model (the model that made the images)")
        prompts = read_prompt_mapping(args.prompts) if args.prompts else None
        entries = entries_from_folder(
            source,
            model=args.model,
            prompts=prompts,
            prompt_from_filename=args.prompt_from_filename,
            dataset=args.dataset,
        )
    elif source.is_file():
        if args.prompts or args.prompt_from_filename:
            raise ConfigError("--prompts / --prompt-from-filename apply to a folder; a manifest carries its prompts")
        entries = read_manifest(source, default_dataset=args.dataset, default_model=args.model)
    else:
        raise DataError(f"not found: {source} (expected a manifest file or a folder of images)")

    scorer = build_scorer(args)
    backend = scorer.backend
    print(
        f"scoring {len(entries)} images on {len(scorer.names)} metrics with {source_name(backend)} "
        f"(logit scale {backend.logit_scale:.2f})",
        file=sys.stderr,
    )
    result = score_entries(entries, scorer, on_error=args.on_error)
    if result.scored == 0:
        raise DataError(f"none of the {len(entries)} images could be read; nothing written to {args.out}")
    result.table.write(args.out)
    print(
        f"scored {result.scored} of {len(entries)} images: {len(result.table)} rows -> {args.out}",
        file=sys.stderr,
    )
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable images:", file=sys.stderr)
        for skipped in result.skipped:
            print(f"  {skipped.path}: {skipped.reason}", file=sys.stderr)
    return 0
