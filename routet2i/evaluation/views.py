"""Quality views of a pair: the per-prompt quality a curve is drawn from.

A pair carries N metrics per prompt (normalised within the dataset, see
:func:`routet2i.ratings.pairs.build_pair`). The evaluation draws one curve per *view*:

- ``aggregate``: the weighted mean of the metrics (the PRS weights, uniform by default),
  renormalised over the metrics present for that prompt — the paper's "mean of normalised
  metrics" and the quality the router is judged on;
- one view per metric when there is more than one.

A prompt enters a view only where both tiers have a value for it. Each view also names the metric
weights it averages (``weights``), so that a router predicting per-metric quality can rank the
prompts by the metrics the view measures (:mod:`routet2i.evaluation.predictor_candidates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from routet2i.ratings.pairs import PairData
from routet2i.superiority import FloatArray, weights_for

AGGREGATE = "aggregate"


@dataclass(frozen=True)
class QualityView:
    """Edge and cloud quality per prompt (P,) for one view; NaN where the view lacks the prompt."""

    name: str
    q_edge: FloatArray
    q_cloud: FloatArray
    #: the metrics this view averages, name → weight (summing to 1).
    weights: dict[str, float] = field(default_factory=dict)

    def subset(self, index: np.ndarray) -> QualityView:
        """The view restricted to the prompts at ``index``."""
        return QualityView(self.name, self.q_edge[index], self.q_cloud[index], dict(self.weights))

    def present(self) -> np.ndarray:
        """Boolean mask of the prompts this view has (both tiers scored)."""
        return ~np.isnan(self.q_edge) & ~np.isnan(self.q_cloud)

    def gain(self) -> FloatArray:
        """q_cloud - q_edge per prompt (NaN where absent): what sending the prompt to the cloud adds."""
        return self.q_cloud - self.q_edge


def weighted_mean(q: FloatArray, present: np.ndarray, w: FloatArray) -> FloatArray:
    """Per-row weighted mean of ``q`` (P, N) over the columns ``present`` (P, N); NaN if none."""
    wp = np.where(present, w, 0.0)
    total = wp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(present, q, 0.0) @ w / total
    out[total == 0] = np.nan
    return np.asarray(out, dtype=np.float64)


def aggregate_view(pair: PairData, weights: Mapping[str, float] | None = None) -> QualityView:
    """The weighted mean of the normalised metrics, over the metrics both tiers have per prompt."""
    w = weights_for(pair.metrics, weights)
    both = ~np.isnan(pair.q_edge) & ~np.isnan(pair.q_cloud)
    return QualityView(
        AGGREGATE,
        weighted_mean(pair.q_edge, both, w),
        weighted_mean(pair.q_cloud, both, w),
        {m: float(x) for m, x in zip(pair.metrics, w.tolist(), strict=True) if x > 0},
    )


def quality_views(pair: PairData, weights: Mapping[str, float] | None = None) -> list[QualityView]:
    """The aggregate view first, then one view per metric where the pair has several."""
    views = [aggregate_view(pair, weights)]
    if len(pair.metrics) > 1:
        for j, metric in enumerate(pair.metrics):
            views.append(QualityView(metric, pair.q_edge[:, j].copy(), pair.q_cloud[:, j].copy(), {metric: 1.0}))
    return views


def aggregate_gain(pair: PairData, weights: Mapping[str, float] | None = None) -> FloatArray:
    """The aggregate quality gain of the cloud per prompt (the learned baselines' target)."""
    return aggregate_view(pair, weights).gain()
