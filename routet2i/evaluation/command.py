"""Evaluate routers on rated prompts: mean quality against cloud share, PGR, APGR, baselines.

For every ``--pair`` (EDGE:CLOUD within one dataset) and ``--protocol``, each ``--router`` ranks the
test prompts by how much they need the cloud; sending the top share c to the cloud gives the
curve Q(c) of mean quality (z-units of the dataset), from which PGR(c) = (Q(c) − Q_edge) /
(Q_cloud − Q_edge), APGR (mean PGR over c = 0, 1 %, …, 100 %; random = 0.5), PGR at 30 % and
50 %, and the smallest cloud share reaching 95 % of the all-cloud gain, per metric and for the
weighted mean of the metrics, with a bootstrap interval on APGR. Where the cloud is not clearly
better, PGR is not reported and quality and win rates are shown instead.

Protocols: ``kfold`` (k folds by prompt hash; a learned router is retrained on every fold
without its prompts), ``lodo`` (train on the pairs of the other datasets, test on this one),
``none`` (no training: baselines and frozen checkpoints only).

Routers: random, all-edge, all-cloud, length, complexity, oracle, routellm, hybridllm, zooter
(``baselines`` = all of these), routellm-ft, hybridllm-ft, zooter-ft (the last three with the
encoder fine-tuned per split: slow on a CPU), predictor[:SETTINGS.yaml] (retrained per split),
checkpoint:DIR (that checkpoint's recipe and pairs, retrained per split), recipe:DIR (its recipe
retrained per split on the run's training pairs), frozen:DIR (as it is; refused on prompts it
was trained on unless --allow-seen-prompts, which flags it).

Writes DIR/results.json (every number and curve), DIR/report.md and one PNG plot per pair and
protocol. Example::

    routet2i evaluate --dataset genai-bench-527 --pair genai-bench-527/SDXL_Turbo:DALLE_3 \\
        --router baselines --router predictor --protocol kfold --folds 5 --out eval/
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from routet2i.cli_options import add_device, add_weights

if TYPE_CHECKING:
    from routet2i.evaluation.harness import PairResult

HELP = "evaluate routers: quality against cloud share, PGR / APGR, baselines, k-fold and leave-one-dataset-out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("ratings")
    src.add_argument("--ratings", nargs="+", type=Path, default=[], metavar="FILE", help="ratings tables (JSONL)")
    src.add_argument(
        "--dataset",
        action="append",
        default=[],
        choices=("genai-bench-527", "agiqa-3k", "tifa-human"),
        help="import a rated dataset directly from --data-dir (repeatable)",
    )
    src.add_argument("--data-dir", type=Path, default=None, help="folder of the rated datasets (default: shared data)")
    parser.add_argument(
        "--pair", action="append", required=True, metavar="DATASET/EDGE:CLOUD", help="pair to evaluate (repeatable)"
    )
    parser.add_argument(
        "--router",
        action="append",
        default=None,
        metavar="NAME",
        help="router to evaluate (repeatable; default: baselines). See the description for names.",
    )
    parser.add_argument(
        "--protocol",
        action="append",
        default=None,
        choices=("kfold", "lodo", "none"),
        help="protocol (repeatable; default kfold)",
    )
    parser.add_argument("--folds", type=int, default=5, help="k for kfold (default 5)")
    parser.add_argument(
        "--train-pair",
        action="append",
        default=[],
        metavar="DATASET/EDGE:CLOUD",
        help="pairs the learned routers train on (default: the evaluated pair for kfold, the other "
        "datasets' evaluated pairs for lodo); test prompts are always removed",
    )
    parser.add_argument("--encoder", default="minilm", help="encoder spec of the embedding baselines (default minilm)")
    add_weights(parser, of=None, example="alignment=0.5,quality=0.5", default_text="uniform")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for the APGR interval (0: none)"
    )
    parser.add_argument("--min-effect", type=float, default=0.1, help="smallest gap effect size for PGR to be reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and bootstrap")
    add_device(parser, "cpu", use="for encoders and training")
    parser.add_argument(
        "--allow-seen-prompts", action="store_true", help="report frozen:DIR on its training prompts, flagged"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    parser.add_argument("--out", type=Path, required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    import logging

    from routet2i.config import data_dir
    from routet2i.errors import ConfigError, DataError
    from routet2i.evaluation.harness import EvaluationSettings, evaluate_pair
    from routet2i.evaluation.plot import can_plot, plot_name, plot_pair
    from routet2i.evaluation.registry import CandidateFactory
    from routet2i.evaluation.report import markdown_report, write_json
    from routet2i.ratings.importers import import_dataset
    from routet2i.ratings.pairs import PairSpec
    from routet2i.ratings.table import RatingsTable
    from routet2i.superiority import parse_metric_weights

    log = logging.getLogger("routet2i.evaluate")
    if not args.ratings and not args.dataset:
        raise ConfigError("give the ratings: --ratings FILE… and/or --dataset NAME")
    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {args.folds}")
    table = RatingsTable.read(*args.ratings) if args.ratings else RatingsTable()
    for name in args.dataset:
        table.extend(import_dataset(name, args.data_dir or data_dir()))
    if not len(table):
        raise DataError("the ratings are empty")
    specs = [PairSpec.parse(p) for p in args.pair]
    protocols = list(dict.fromkeys(args.protocol or ["kfold"]))
    settings = EvaluationSettings(
        folds=args.folds,
        seed=args.seed,
        n_boot=max(0, args.bootstrap),
        min_effect=args.min_effect,
        weights=parse_metric_weights(args.weights),
        train_pairs=tuple(args.train_pair),
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    factory = CandidateFactory(
        table,
        embedding_encoder=args.encoder,
        device=args.device,
        workdir=out / "work",
        allow_seen=args.allow_seen_prompts,
    )
    names = factory.expand(args.router or ["baselines"])
    results = []
    plots: dict[tuple[str, str], str] = {}
    for protocol in protocols:
        candidates = [factory.build(n) for n in names]
        learned = [c.name for c in candidates if c.learns]
        if protocol == "none" and learned:
            raise ConfigError(f"protocol 'none' cannot train {', '.join(learned)}: use kfold or lodo, or frozen:DIR")
        for spec in specs:
            print(f"evaluating {spec} ({protocol}) …", file=sys.stderr)
            result = evaluate_pair(
                table,
                spec,
                protocol,
                candidates,
                settings,
                evaluated=specs,
                on_candidate=lambda n: log.info("router %s", n),
            )
            results.append(result)
    # the numbers are saved before any plot is drawn: a plotting failure loses nothing
    drawing = not args.no_plot and can_plot()
    if drawing:
        plots = {(r.pair, r.protocol): plot_name(r) for r in results}
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    command = f"routet2i {argv}" if argv.startswith("evaluate") else ""
    write_json(out / "results.json", results, {"command": command, "routers": names, "protocols": protocols})
    (out / "report.md").write_text(markdown_report(results, plots, command), encoding="utf-8")
    for result in results if drawing else []:
        plot_pair(result, out / plots[(result.pair, result.protocol)])
    print_summary(results)
    print(f"wrote {out / 'results.json'}, {out / 'report.md'}" + (" and plots" if drawing else ""), file=sys.stderr)
    return 0


def print_summary(results: Sequence[PairResult]) -> None:
    """APGR of the aggregate view per router, one line per (pair, protocol)."""
    for r in results:
        agg = r.views[0]
        cells = []
        for c in r.candidates:
            if c.fixed_share is not None:
                continue
            a = c.views[agg.name].summary.apgr
            cells.append(f"{c.name}={'n/m' if a is None else f'{a:.3f}'}")
        print(f"{r.pair} [{r.protocol}] APGR: " + "  ".join(cells))
