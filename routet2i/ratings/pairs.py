r"""Pair building: from a ratings table to per-prompt edge/cloud quality vectors and D/PRS targets.

A *pair* is (edge model, cloud model) within one dataset. :func:`build_pair` gives, for every
prompt both models were rated on, the vectors q_edge and q_cloud over the chosen metrics (NaN where
a metric is missing). :func:`compute_targets` turns them into D_i and PRS with
:mod:`routet2i.superiority` (the functions serving uses too). Several pairs are pooled with
:func:`concat_pairs` after each was turned into targets with its *own* mu gaps.

Normalisation within a dataset (``zscore``: (s - mean) / std; ``minmax``: to [0, 1]; per metric,
over every model and prompt of the dataset) puts datasets on one scale for pooling and for
evaluation curves. D_i itself is invariant to it (a positive affine map per metric cancels in
(q_e - q_c) / |mu_e - mu_c|).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from routet2i.errors import DataError
from routet2i.ratings.table import RatingsTable
from routet2i.superiority import (
    DEFAULT_MIN_GAP,
    FloatArray,
    mu_gaps,
    pareto_superiority,
    relative_superiority,
    weights_for,
)

Normalisation = Literal["none", "zscore", "minmax"]


@dataclass(frozen=True)
class PairSpec:
    """Which two models to compare, optionally restricted to one dataset.

    Text form (CLI): ``EDGE:CLOUD`` or ``DATASET/EDGE:CLOUD``, e.g.
    ``genai-bench-527/SDXL_Turbo:DALLE_3``.
    """

    edge: str
    cloud: str
    dataset: str | None = None

    @classmethod
    def parse(cls, text: str) -> PairSpec:
        dataset: str | None = None
        rest = text
        if "/" in text:
            dataset, rest = text.split("/", 1)
        if rest.count(":") != 1 or not all(rest.split(":")):
            raise DataError(f"pair {text!r}: expected EDGE:CLOUD or DATASET/EDGE:CLOUD")
        edge, cloud = rest.split(":")
        return cls(edge=edge, cloud=cloud, dataset=dataset or None)

    def __str__(self) -> str:
        head = f"{self.dataset}/" if self.dataset else ""
        return f"{head}{self.edge}:{self.cloud}"


@dataclass
class PairData:
    """Aligned edge/cloud quality for P prompts and N metrics (NaN = missing)."""

    spec: PairSpec
    datasets: list[str]
    prompt_ids: list[str]
    prompts: list[str]
    metrics: list[str]
    q_edge: FloatArray
    q_cloud: FloatArray
    pair_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> PairData:
        idx = np.asarray(index, dtype=np.int64)
        return PairData(
            spec=self.spec,
            datasets=[self.datasets[i] for i in idx],
            prompt_ids=[self.prompt_ids[i] for i in idx],
            prompts=[self.prompts[i] for i in idx],
            metrics=list(self.metrics),
            q_edge=self.q_edge[idx],
            q_cloud=self.q_cloud[idx],
            pair_names=[self.pair_names[i] for i in idx] if self.pair_names else [],
        )


@dataclass
class Targets:
    """D_i (P, N), PRS (P,), and what made them: mu gaps (N,), gamma, normalised weights (N,)."""

    metrics: list[str]
    d: FloatArray
    prs: FloatArray
    gaps: FloatArray
    gamma: float
    weights: FloatArray


def normalise_scores(table: RatingsTable, method: Normalisation) -> dict[tuple[str, str, str, str], float]:
    """Mean scores (dataset, prompt_id, model, metric) → score, normalised per (dataset, metric)."""
    scores = table.mean_scores()
    if method == "none":
        return scores
    groups: dict[tuple[str, str], list[float]] = {}
    for (ds, _pid, _model, metric), s in scores.items():
        groups.setdefault((ds, metric), []).append(s)
    stats: dict[tuple[str, str], tuple[float, float]] = {}
    for key, values in groups.items():
        v = np.asarray(values)
        if method == "zscore":
            std = float(v.std())
            stats[key] = (float(v.mean()), std if std > 0 else 1.0)
        elif method == "minmax":
            span = float(v.max() - v.min())
            stats[key] = (float(v.min()), span if span > 0 else 1.0)
        else:
            raise ValueError(f"unknown normalisation {method!r}; use none, zscore or minmax")
    return {k: (s - stats[(k[0], k[3])][0]) / stats[(k[0], k[3])][1] for k, s in scores.items()}


def build_pair(
    table: RatingsTable,
    spec: PairSpec,
    metrics: Sequence[str] | None = None,
    normalise: Normalisation = "zscore",
) -> PairData:
    """Per prompt (where both models have at least one of the metrics) q_edge and q_cloud.

    ``metrics``: which metrics, in this order (default: every metric both models share).
    Raises :class:`DataError` naming what is missing when the pair has no prompt in common.
    """
    scores = normalise_scores(table, normalise)
    prompts = table.prompts()
    datasets = [spec.dataset] if spec.dataset else table.datasets()
    for name in (spec.edge, spec.cloud):
        if not any(name in table.models(ds) for ds in datasets):
            raise DataError(f"model {name!r} not in the ratings ({', '.join(datasets)}); models: {table.models()}")
    if metrics is None:
        edge_metrics = {k[3] for k in scores if k[2] == spec.edge and k[0] in datasets}
        cloud_metrics = {k[3] for k in scores if k[2] == spec.cloud and k[0] in datasets}
        metrics = sorted(edge_metrics & cloud_metrics)
    metric_list = list(metrics)
    if not metric_list:
        raise DataError(f"pair {spec}: the two models share no metric")
    keys = sorted({(k[0], k[1]) for k in scores if k[0] in datasets and k[2] == spec.edge})
    rows_e: list[list[float]] = []
    rows_c: list[list[float]] = []
    kept: list[tuple[str, str]] = []
    for ds, pid in keys:
        qe = [scores.get((ds, pid, spec.edge, m), np.nan) for m in metric_list]
        qc = [scores.get((ds, pid, spec.cloud, m), np.nan) for m in metric_list]
        if any(not (np.isnan(a) or np.isnan(b)) for a, b in zip(qe, qc, strict=True)):
            rows_e.append(qe)
            rows_c.append(qc)
            kept.append((ds, pid))
    if not kept:
        raise DataError(f"pair {spec}: no prompt has scores for both models")
    return PairData(
        spec=spec,
        datasets=[ds for ds, _ in kept],
        prompt_ids=[pid for _, pid in kept],
        prompts=[prompts[k] for k in kept],
        metrics=metric_list,
        q_edge=np.asarray(rows_e, dtype=np.float64),
        q_cloud=np.asarray(rows_c, dtype=np.float64),
        pair_names=[str(spec)] * len(kept),
    )


def compute_targets(
    pair: PairData,
    gamma: float = 1.0,
    weights: Mapping[str, float] | None = None,
    gaps: FloatArray | None = None,
    min_gap: float = DEFAULT_MIN_GAP,
) -> Targets:
    """D and PRS for every prompt of ``pair``.

    ``gaps``: the mu gaps measured on the *training* prompts (:func:`train_gaps`); default: the
    gaps of ``pair`` itself (right when ``pair`` is the training set).
    """
    g = mu_gaps(pair.q_edge, pair.q_cloud) if gaps is None else np.asarray(gaps, dtype=np.float64)
    d = relative_superiority(pair.q_edge, pair.q_cloud, g, gamma=gamma, min_gap=min_gap)
    w = weights_for(pair.metrics, weights)
    return Targets(metrics=list(pair.metrics), d=d, prs=pareto_superiority(d, w), gaps=g, gamma=gamma, weights=w)


def train_gaps(pair: PairData, train_index: Sequence[int] | np.ndarray) -> FloatArray:
    """mu gaps of ``pair`` measured on the training prompts only (no leak from held-out ones)."""
    sub = pair.subset(train_index)
    return mu_gaps(sub.q_edge, sub.q_cloud)


def concat_pairs(pairs: Sequence[PairData]) -> PairData:
    """Pool several pairs into one: metrics become the union (NaN where a pair lacks one).

    Each pooled row keeps its pair name (``pair_names``), so targets are computed per pair with
    that pair's own gaps (compute targets per pair first, then pool, or split by ``pair_names``).
    """
    if not pairs:
        raise DataError("no pair to pool")
    metrics: list[str] = []
    for p in pairs:
        metrics.extend(m for m in p.metrics if m not in metrics)

    def widen(p: PairData, q: FloatArray) -> FloatArray:
        out = np.full((len(p), len(metrics)), np.nan)
        for j, m in enumerate(p.metrics):
            out[:, metrics.index(m)] = q[:, j]
        return out

    return PairData(
        spec=pairs[0].spec if len(pairs) == 1 else PairSpec(edge="*", cloud="*"),
        datasets=[d for p in pairs for d in p.datasets],
        prompt_ids=[i for p in pairs for i in p.prompt_ids],
        prompts=[t for p in pairs for t in p.prompts],
        metrics=metrics,
        q_edge=np.concatenate([widen(p, p.q_edge) for p in pairs]),
        q_cloud=np.concatenate([widen(p, p.q_cloud) for p in pairs]),
        pair_names=[n for p in pairs for n in (p.pair_names or [str(p.spec)] * len(p))],
    )
