"""Generate the training images of a router: every prompt on the edge and on the cloud tier.

For each prompt of --prompts and each of --seeds K seeds (--seed-base + 0..K-1, the same seeds
on both tiers), one image is made by the edge worker and one by the cloud worker. A tier is a
running worker's URL (http://host:8001) or a worker config (configs/edge-sd-turbo.yaml), loaded
in this process through the worker service's own code. The images and a manifest for
`routet2i score` land in --out:

  DIR/manifest.jsonl   prompt, prompt_id, dataset, model, seed, tier, parameters, timings, image
  DIR/images/<tier>/<dataset>/<prompt_id>-<seed>.png
  DIR/errors.jsonl     every failed attempt (tier, prompt, seed, attempt, error, final)
  DIR/run.json         the models and generation parameters of the run
  DIR/prompts.jsonl    the prompts (input for routet2i route --input / calibrate --prompts)

Prompt files: plain text (one a line), JSONL ({"prompt": ...}), CSV or TSV with a header, read as
published: --column names the prompt column (default: a column called "prompt" in any case),
--id-column a column of prompt ids (default: a hash of the prompt text). Other columns
(PartiPrompts' Category, Challenge) are kept in the manifest under prompt_fields.

Resumable: rerun the same command after a crash, a kill or a Ctrl-C and it continues where it
stopped; every image is written atomically and listed in the manifest only once it is in place,
so no image is made twice or left half-written. Items that failed every attempt are retried by the
next run. Exit status 0 when every planned image exists, 1 when some are missing.

Examples:
  routet2i generate-pairs --prompts ../shared/data/drawbench/drawbench.csv --column Prompt \\
      --edge http://127.0.0.1:8001 --cloud http://127.0.0.1:8002 --seeds 2 --out runs/drawbench
  routet2i generate-pairs --prompts ../shared/data/partiprompts/PartiPrompts.tsv --column Prompt \\
      --dataset partiprompts --limit 500 --sample-seed 0 \\
      --edge configs/edge-sd-turbo.yaml --cloud configs/cloud-sdxl.yaml --out runs/parti
  routet2i generate-pairs --prompts prompts.txt --edge http://edge:8001 --cloud http://cloud:8002 \\
      --cloud-param steps=25 --cloud-concurrency 2 --out runs/mine

Then: routet2i score DIR/manifest.jsonl --out DIR/ratings.jsonl, routet2i train, routet2i calibrate
(docs/TRAINING.md walks through it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from routet2i.cli_options import add_progress, show_progress

HELP = "generate paired edge/cloud images for prompts (resumable) and a manifest for `routet2i score`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("prompts")
    src.add_argument(
        "--prompts", type=Path, required=True, metavar="FILE", help="prompt file: .txt, .jsonl, .csv, .tsv"
    )
    src.add_argument(
        "--format", choices=("auto", "text", "jsonl", "csv", "tsv"), default="auto", help="default: by suffix"
    )
    src.add_argument("--column", default=None, help="the prompt column / JSON field (e.g. Prompt)")
    src.add_argument("--id-column", default=None, help="a column of prompt ids (default: hash of the prompt)")
    src.add_argument("--dataset", default=None, help="dataset name in the manifest (default: the file's stem)")
    src.add_argument("--limit", type=int, default=None, metavar="N", help="use only N prompts")
    src.add_argument(
        "--sample-seed",
        type=int,
        default=None,
        metavar="S",
        help="with --limit: a seeded random sample, not the first N",
    )

    tiers = parser.add_argument_group("tiers")
    tiers.add_argument("--edge", required=True, metavar="URL|CONFIG", help="edge worker URL or worker config YAML")
    tiers.add_argument("--cloud", required=True, metavar="URL|CONFIG", help="cloud worker URL or worker config YAML")
    tiers.add_argument("--edge-concurrency", type=int, default=8, metavar="N", help="edge requests in flight (8)")
    tiers.add_argument("--cloud-concurrency", type=int, default=4, metavar="N", help="cloud requests in flight (4)")
    tiers.add_argument(
        "--edge-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="request field for the edge (width, height, steps, guidance_scale, negative_prompt); "
        "default: the worker's defaults",
    )
    tiers.add_argument("--cloud-param", action="append", default=[], metavar="KEY=VALUE", help="the same for the cloud")

    gen = parser.add_argument_group("generation")
    gen.add_argument("--seeds", type=int, default=1, metavar="K", help="images per prompt and tier (default 1)")
    gen.add_argument("--seed-base", type=int, default=0, help="first seed (default 0)")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (resumed if it exists)")
    gen.add_argument("--retries", type=int, default=2, help="extra attempts per failed item (default 2)")
    gen.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds per request (default 600)")
    gen.add_argument(
        "--ready-timeout", type=float, default=900.0, metavar="S", help="seconds to wait for a worker's model (900)"
    )
    gen.add_argument(
        "--max-consecutive-failures",
        type=int,
        default=20,
        metavar="N",
        help="stop a tier after N items in a row failed for good (0: never; default 20)",
    )
    add_progress(gen)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from routet2i.errors import ConfigError
    from routet2i.pipeline.generate import PairsJob, generate_pairs
    from routet2i.pipeline.plan import seeds_for
    from routet2i.pipeline.run import RunOptions
    from routet2i.pipeline.tiers import parse_parameters
    from routet2i.prompts import read_prompts, sample_prompts

    for flag in ("edge_concurrency", "cloud_concurrency"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.retries < 0 or args.timeout <= 0 or args.ready_timeout <= 0 or args.max_consecutive_failures < 0:
        raise ConfigError("--retries and --max-consecutive-failures must be >= 0, --timeout and --ready-timeout > 0")
    if args.sample_seed is not None and args.limit is None:
        raise ConfigError("--sample-seed goes with --limit N")

    records = read_prompts(
        args.prompts, fmt=args.format, column=args.column, id_column=args.id_column, dataset=args.dataset
    )
    chosen = sample_prompts(records, args.limit, args.sample_seed)
    seeds = seeds_for(args.seeds, args.seed_base)
    options = RunOptions(
        concurrency={"edge": args.edge_concurrency, "cloud": args.cloud_concurrency},
        params={
            "edge": parse_parameters(args.edge_param, "--edge-param"),
            "cloud": parse_parameters(args.cloud_param, "--cloud-param"),
        },
        timeout_s=args.timeout,
        retries=args.retries,
        max_consecutive_failures=args.max_consecutive_failures,
        progress=show_progress(args.progress),
    )
    job = PairsJob(
        prompts=chosen,
        sources={"edge": args.edge, "cloud": args.cloud},
        seeds=seeds,
        out=args.out,
        options=options,
        ready_timeout_s=args.ready_timeout,
        prompt_source={
            "file": str(args.prompts),
            "format": args.format,
            "column": args.column,
            "id_column": args.id_column,
            "limit": args.limit,
            "sample_seed": args.sample_seed,
            "read": len(records),
        },
    )
    print(
        f"{len(chosen)} prompts x {len(seeds)} seeds x 2 tiers = {2 * len(chosen) * len(seeds)} images -> {args.out}",
        file=sys.stderr,
    )
    # One INFO line per request would bury the progress bars.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    result = asyncio.run(generate_pairs(job))

    summary = result.summary
    repaired = {k: v for k, v in result.repairs.items() if v}
    if repaired:
        print(f"recovered from an interrupted run: {repaired}", file=sys.stderr)
    for tier, t in summary.tiers.items():
        line = (
            f"{tier:5s} {result.models[tier]}: {t.planned} planned, {t.already_done} already done, "
            f"{t.made} made, {t.failed} failed"
        )
        if t.made:
            line += f" ({t.images_per_second:.2f} images/s)"
        print(line, file=sys.stderr)
        if t.stopped:
            print(f"  {tier} stopped: {t.stopped}", file=sys.stderr)
    print(f"manifest: {result.manifest} ({summary.seconds:.1f} s)", file=sys.stderr)
    if not summary.complete:
        print(
            f"some images are missing (see {result.manifest.parent / 'errors.jsonl'}); rerun the same command to retry",
            file=sys.stderr,
        )
        return 1
    out = result.manifest.parent
    edge, cloud = result.models["edge"], result.models["cloud"]
    # DATASET/EDGE:CLOUD splits at the first "/", so a model id with a "/" needs the dataset in front.
    pair = (
        f"--pair {result.datasets[0]}/{edge}:{cloud}" if len(result.datasets) == 1 else f"--edge {edge} --cloud {cloud}"
    )
    print("next:", file=sys.stderr)
    print(f"  routet2i score {result.manifest} --out {out / 'ratings.jsonl'}", file=sys.stderr)
    print(f"  routet2i train --ratings {out / 'ratings.jsonl'} {pair} --out {out / 'router'}", file=sys.stderr)
    return 0
