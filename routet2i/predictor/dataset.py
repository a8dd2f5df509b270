r"""Training examples from a ratings table: the prompt-hash split and per-pair D / PRS targets.

**Split.** A prompt goes to ``validation`` if u < v, to ``calibration`` if v ≤ u < v + c, else to
``train``, with u = :func:`~routet2i.prompt_ids.split_fraction` (the first 8 bytes of sha1(prompt
text, UTF-8) read as a fraction of 2⁶⁴). It depends on the text only: the same prompt lands in the
same split in every pair, every run and every seed, and adding prompts never moves old ones.

**Targets.** For each pair (:class:`~routet2i.ratings.pairs.PairSpec`) the quality vectors come
from :func:`~routet2i.ratings.pairs.build_pair` (scores normalised within their dataset), the mu
gaps from that pair's *training* prompts only (:func:`~routet2i.ratings.pairs.train_gaps`), and
D_i from :func:`~routet2i.ratings.pairs.compute_targets`. Pairs are then pooled over the union of
their metrics (NaN where a pair lacks a metric: masked out of the loss), and PRS = Σ w_i D_i over
the metrics present (:func:`~routet2i.superiority.pareto_superiority`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from routet2i.errors import ConfigError, DataError
from routet2i.prompt_ids import split_fraction
from routet2i.ratings.pairs import Normalisation, PairData, PairSpec, build_pair, compute_targets, train_gaps
from routet2i.ratings.table import RatingsTable
from routet2i.superiority import FloatArray, pareto_superiority, weights_for

Split = Literal["train", "validation", "calibration"]
SPLITS: tuple[Split, ...] = ("train", "validation", "calibration")


def split_of(prompt: str, validation: float, calibration: float) -> Split:
    """Which split ``prompt`` belongs to (see the module docstring)."""
    u = split_fraction(prompt)
    if u < validation:
        return "validation"
    if u < validation + calibration:
        return "calibration"
    return "train"


@dataclass
class TrainingData:
    """R pooled rows (one per pair and prompt) over N metrics."""

    prompts: list[str]
    pair_names: list[str]
    metrics: list[str]
    #: PRS weights over ``metrics`` (sum 1).
    weights: FloatArray
    #: D targets (R, N), NaN where the row's pair lacks the metric.
    d: FloatArray
    #: PRS targets (R,).
    prs: FloatArray
    #: normalised edge / cloud quality (R, N), NaN = missing (for quality-gain figures).
    q_edge: FloatArray
    q_cloud: FloatArray
    split: list[Split]
    #: pair name → metric → mu gap measured on that pair's training prompts (None: no data).
    gaps: dict[str, dict[str, float | None]]

    def __len__(self) -> int:
        return len(self.prompts)

    def index(self, split: Split) -> np.ndarray:
        """Row indices of one split."""
        return np.asarray([i for i, s in enumerate(self.split) if s == split], dtype=np.int64)

    def counts(self) -> dict[str, int]:
        return {s: int(sum(1 for x in self.split if x == s)) for s in SPLITS}


def build_training_data(
    table: RatingsTable,
    specs: Sequence[PairSpec],
    *,
    gamma: float,
    normalise: Normalisation,
    weights: Mapping[str, float] | None,
    validation: float,
    calibration: float,
) -> TrainingData:
    """Pooled, split training rows for the pairs ``specs`` (see the module docstring)."""
    if not specs:
        raise DataError("no pair given: name at least one DATASET/EDGE:CLOUD")
    pairs: list[PairData] = [build_pair(table, spec, normalise=normalise) for spec in specs]
    metrics: list[str] = []
    for p in pairs:
        metrics.extend(m for m in p.metrics if m not in metrics)
    try:
        w = weights_for(metrics, weights)
    except ValueError as exc:
        raise ConfigError(f"targets.weights: {exc}") from exc

    prompts: list[str] = []
    names: list[str] = []
    splits: list[Split] = []
    d_rows: list[FloatArray] = []
    qe_rows: list[FloatArray] = []
    qc_rows: list[FloatArray] = []
    gaps: dict[str, dict[str, float | None]] = {}
    for spec, pair in zip(specs, pairs, strict=True):
        name = str(spec)
        labels = [split_of(t, validation, calibration) for t in pair.prompts]
        train_idx = [i for i, s in enumerate(labels) if s == "train"]
        if not train_idx:
            raise DataError(f"pair {name}: none of its {len(pair)} prompts falls in the training split")
        g = train_gaps(pair, train_idx)
        d = compute_targets(pair, gamma=gamma, gaps=g).d
        cols = [metrics.index(m) for m in pair.metrics]
        d_rows.append(_widen(d, cols, len(metrics)))
        qe_rows.append(_widen(pair.q_edge, cols, len(metrics)))
        qc_rows.append(_widen(pair.q_cloud, cols, len(metrics)))
        gaps[name] = {m: (float(x) if np.isfinite(x) else None) for m, x in zip(pair.metrics, g, strict=True)}
        prompts += pair.prompts
        names += [name] * len(pair)
        splits += labels
    d_all = np.concatenate(d_rows)
    return TrainingData(
        prompts=prompts,
        pair_names=names,
        metrics=metrics,
        weights=w,
        d=d_all,
        prs=pareto_superiority(d_all, w),
        q_edge=np.concatenate(qe_rows),
        q_cloud=np.concatenate(qc_rows),
        split=splits,
        gaps=gaps,
    )


def _widen(values: FloatArray, cols: list[int], n: int) -> FloatArray:
    out = np.full((values.shape[0], n), np.nan)
    out[:, cols] = values
    return out
