"""The evaluation run: pairs × protocols × candidates → curves and the numbers read off them.

For one evaluated pair (edge, cloud in one dataset) and one protocol
(:mod:`routet2i.evaluation.protocols`):

1. the pair's quality is normalised within its dataset (z-scores per metric) and split into views
   (:mod:`routet2i.evaluation.views`: the aggregate, then each metric);
2. each split of the protocol is a scoring group; a learning candidate is trained, per split, on
   the training pairs' rows minus every row whose prompt is a test prompt of the split (and, for
   ``lodo``, minus the held-out dataset) — it cannot see its test prompts;
3. the candidate's cloud scores of the test prompts give one curve per view (groups routed
   separately and averaged, :func:`routet2i.evaluation.curves.quality_curve`), its summary, and a
   bootstrap interval on APGR.

Training pairs: by default the evaluated pair itself under ``kfold`` and every evaluated pair of
another dataset under ``lodo``; ``train_pairs`` replaces that pool (each pair is still filtered
as above).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routet2i.errors import DataError
from routet2i.evaluation.candidates import Candidate, TrainingData
from routet2i.evaluation.curves import (
    DEFAULT_GRID_POINTS,
    MIN_EFFECT_SIZE,
    CurveSummary,
    QualityCurve,
    bootstrap_apgr,
    even_grid,
    gap_effect_size,
    gap_is_meaningful,
    quality_curve,
    summarise,
)
from routet2i.evaluation.protocols import Split, make_splits
from routet2i.evaluation.views import AGGREGATE, QualityView, quality_views
from routet2i.prompt_ids import prompt_key
from routet2i.ratings.pairs import PairData, PairSpec, build_pair
from routet2i.ratings.table import RatingsTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationSettings:
    """How to evaluate (every field is reported with the results)."""

    folds: int = 5
    seed: int = 0
    n_boot: int = 1000
    grid_points: int = DEFAULT_GRID_POINTS
    min_effect: float = MIN_EFFECT_SIZE
    weights: Mapping[str, float] | None = None
    train_pairs: tuple[str, ...] = ()


@dataclass
class ViewInfo:
    """The pair's facts in one view: prompts, both tiers' mean quality, how clear the gap is."""

    name: str
    n_prompts: int
    q_edge: float
    q_cloud: float
    effect_size: float
    meaningful: bool
    cloud_wins: float
    ties: float
    edge_wins: float
    raw_q_edge: float | None = None
    raw_q_cloud: float | None = None


@dataclass
class ViewResult:
    """One candidate on one view."""

    summary: CurveSummary
    curve: QualityCurve
    apgr_ci: tuple[float, float] | None = None


@dataclass
class CandidateResult:
    name: str
    description: str
    fixed_share: float | None
    views: dict[str, ViewResult]
    warnings: list[str] = field(default_factory=list)
    training: list[dict[str, object]] = field(default_factory=list)
    train_pairs: list[str] = field(default_factory=list)


@dataclass
class PairResult:
    """Everything measured for one (pair, protocol)."""

    pair: str
    protocol: str
    splits: list[dict[str, object]]
    train_pairs: list[str]
    views: list[ViewInfo]
    candidates: list[CandidateResult]
    settings: EvaluationSettings


def view_info(view: QualityView, raw: QualityView | None, min_effect: float) -> ViewInfo:
    ok = view.present()
    qe, qc = view.q_edge[ok], view.q_cloud[ok]
    gain = qc - qe
    effect = gap_effect_size(qe, qc)
    raw_e = raw_c = None
    if raw is not None:
        rok = raw.present()
        raw_e, raw_c = float(raw.q_edge[rok].mean()), float(raw.q_cloud[rok].mean())
    return ViewInfo(
        name=view.name,
        n_prompts=int(ok.sum()),
        q_edge=float(qe.mean()),
        q_cloud=float(qc.mean()),
        effect_size=effect,
        meaningful=gap_is_meaningful(qe, qc, min_effect),
        cloud_wins=float((gain > 0).mean()),
        ties=float((gain == 0).mean()),
        edge_wins=float((gain < 0).mean()),
        raw_q_edge=raw_e,
        raw_q_cloud=raw_c,
    )


def training_rows(pool: Sequence[PairData], split: Split) -> list[PairData]:
    """The rows of each training pair a router may learn from for ``split`` (see the module)."""
    out = []
    for pair in pool:
        keep = [
            i
            for i, (text, ds) in enumerate(zip(pair.prompts, pair.datasets, strict=True))
            if prompt_key(text) not in split.held_out and ds != split.exclude_dataset
        ]
        if keep:
            out.append(pair.subset(keep))
    return out


def default_train_specs(protocol: str, spec: PairSpec, evaluated: Sequence[PairSpec]) -> list[PairSpec]:
    if protocol == "lodo":
        return [s for s in evaluated if s.dataset != spec.dataset]
    return [spec]


def evaluate_pair(
    table: RatingsTable,
    spec: PairSpec,
    protocol: str,
    candidates: Sequence[Candidate],
    settings: EvaluationSettings,
    evaluated: Sequence[PairSpec] = (),
    on_candidate: Callable[[str], None] | None = None,
) -> PairResult:
    """Evaluate ``candidates`` on one pair under one protocol (see the module docstring)."""
    if spec.dataset is None and protocol == "lodo":
        raise DataError(f"pair {spec}: leave-one-dataset-out needs DATASET/EDGE:CLOUD")
    pair = build_pair(table, spec, normalise="zscore")
    raw = build_pair(table, spec, metrics=pair.metrics, normalise="none")
    views = quality_views(pair, settings.weights)
    raw_views = {v.name: v for v in quality_views(raw, settings.weights)} if len(set(pair.datasets)) == 1 else {}
    if len(pair.metrics) > 1:  # a mean over metrics of different scales has no raw unit
        raw_views.pop(AGGREGATE, None)
    infos = [view_info(v, raw_views.get(v.name), settings.min_effect) for v in views]
    splits = make_splits(protocol, pair.prompts, pair.datasets, settings.folds)

    run_specs = (
        [PairSpec.parse(s) for s in settings.train_pairs]
        if settings.train_pairs
        else default_train_specs(protocol, spec, evaluated or [spec])
    )
    built: dict[str, PairData] = {}

    def pool_for(cand: Candidate) -> tuple[list[str], dict[str, list[PairData]]]:
        specs = [PairSpec.parse(s) for s in cand.train_pairs] if cand.train_pairs is not None else run_specs
        for s in specs:
            if str(s) not in built:
                built[str(s)] = build_pair(table, s, normalise="zscore")
        pool = [built[str(s)] for s in specs]
        if protocol == "lodo" and not any(p.datasets and p.datasets[0] != spec.dataset for p in pool):
            raise DataError(
                f"pair {spec}: leave-one-dataset-out leaves {cand.name} no training pair outside {spec.dataset}; "
                "evaluate pairs from several datasets or name --train-pair from another dataset"
            )
        return [str(s) for s in specs], {s.name: training_rows(pool, s) for s in splits}

    grid = even_grid(settings.grid_points)
    groups = np.zeros(len(pair), dtype=np.int64)
    for k, s in enumerate(splits):
        groups[s.test_index] = k

    results = []
    for cand in candidates:
        if on_candidate is not None:
            on_candidate(cand.name)
        cand.prepare(table, pair)
        scores = {v.name: np.zeros(len(pair)) for v in views}
        records: list[dict[str, object]] = []
        trained_on: list[str] = []
        split_rows: dict[str, list[PairData]] = {}
        if cand.learns:
            trained_on, split_rows = pool_for(cand)
        for k, s in enumerate(splits):
            test = pair.subset(s.test_index)
            test_views = [v.subset(s.test_index) for v in views]
            if cand.learns:
                rows = split_rows[s.name]
                if not rows:
                    raise DataError(f"pair {spec}, {s.name}: no training rows left for {cand.name}")
                train = TrainingData(
                    rows, settings.weights, seed=settings.seed + k, split=f"{spec}-{protocol}-{s.name}"
                )
                log.info("%s / %s / %s: training %s on %d rows", spec, protocol, s.name, cand.name, len(train))
                cand.fit(train)
                records.append({"split": s.name, "train_rows": len(train), **cand.training_record()})
            for name, sc in cand.score_views(test, test_views).items():
                sc = np.asarray(sc, dtype=np.float64)
                if sc.shape != (len(test),) or not np.isfinite(sc).all():
                    raise DataError(
                        f"router {cand.name} gave {sc.shape} scores (some not finite) for {len(test)} prompts"
                    )
                scores[name][s.test_index] = sc
        view_results = {}
        for v, info in zip(views, infos, strict=True):
            ok = v.present()
            if cand.fixed_share is not None:
                s_fixed = np.zeros(int(ok.sum()))
                full = quality_curve(s_fixed, v.q_edge[ok], v.q_cloud[ok], shares=grid)
                point = np.full_like(grid, full.at(cand.fixed_share))
                win = np.full_like(grid, full.win_rate_at(cand.fixed_share))
                curve = QualityCurve(grid, point, win, full.q_edge, full.q_cloud, full.n_prompts)
                view_results[v.name] = ViewResult(summarise(curve, False), curve)
                continue
            curve = quality_curve(scores[v.name][ok], v.q_edge[ok], v.q_cloud[ok], groups=groups[ok], shares=grid)
            ci = None
            if info.meaningful and settings.n_boot > 0:
                ci = bootstrap_apgr(
                    scores[v.name][ok], v.q_edge[ok], v.q_cloud[ok], groups[ok], settings.n_boot, settings.seed
                )
            view_results[v.name] = ViewResult(summarise(curve, info.meaningful), curve, ci)
        results.append(
            CandidateResult(
                cand.name, cand.description, cand.fixed_share, view_results, list(cand.warnings), records, trained_on
            )
        )
        cand.warnings.clear()

    return PairResult(
        pair=str(spec),
        protocol=protocol,
        splits=[{"name": s.name, "test_prompts": int(s.test_index.size)} for s in splits],
        train_pairs=[str(s) for s in run_specs] if any(c.learns for c in candidates) else [],
        views=infos,
        candidates=results,
        settings=settings,
    )
