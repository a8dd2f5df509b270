r"""When a candidate router replaces the live one.

Both are scored on the same shadow pairs, pairs that *neither trained on* (the candidate's scores
are out-of-fold, the live router never saw them). On those pairs the candidate's advantage is

    Δ = mean_c Q_cand(c) - mean_c Q_live(c)  =  gap · (APGR_cand - APGR_live)

(the area between the two quality-vs-cloud-share curves of :mod:`routet2i.evaluation.curves`;
it needs no division by the tiers' gap, so it is stable where APGR is not). A paired bootstrap
over the pairs gives its distribution; the candidate is promoted only when the lower
``confidence`` quantile of Δ is above ``margin · gap`` (``margin`` in APGR units). With the
defaults (margin 0, confidence 0.95) a candidate that is truly no better is promoted by one
decision about 5 % of the time at most (one-sided); ``tests/learning`` checks that rate on noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from routet2i.evaluation.curves import apgr, even_grid, quality_curve
from routet2i.superiority import FloatArray


class PromotionRule(BaseModel):
    """The settings of the promotion decision (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: APGR points the candidate must win by, at the lower confidence bound.
    margin: float = Field(default=0.0, ge=0.0, le=1.0)
    #: one-sided confidence of the win (1 - the false-promotion rate of one decision).
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    #: bootstrap resamples of the evaluation pairs.
    n_boot: int = Field(default=400, ge=50)
    #: no decision on fewer evaluation pairs than this.
    min_pairs: int = Field(default=20, ge=5)


@dataclass(frozen=True)
class Decision:
    """One promotion decision and its figures (APGR on the evaluation pairs)."""

    promote: bool
    reason: str
    n_pairs: int
    apgr_live: float | None = None
    apgr_candidate: float | None = None
    #: Δ / gap: the candidate's APGR advantage, and its lower confidence bound.
    advantage: float | None = None
    advantage_low: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


_GRID = even_grid(51)


def _area(scores: FloatArray, qe: FloatArray, qc: FloatArray) -> float:
    return float(np.mean(quality_curve(scores, qe, qc, shares=_GRID).quality))


def decide(
    rule: PromotionRule,
    live: FloatArray,
    candidate: FloatArray,
    q_edge: FloatArray,
    q_cloud: FloatArray,
    *,
    seed: int = 0,
) -> Decision:
    """Whether ``candidate`` replaces ``live``: cloud scores of both (n,) on evaluation pairs
    neither trained on, with the tiers' quality there (n,)."""
    s_live, s_cand = np.asarray(live, np.float64), np.asarray(candidate, np.float64)
    qe, qc = np.asarray(q_edge, np.float64), np.asarray(q_cloud, np.float64)
    n = int(qe.shape[0])
    if n < rule.min_pairs:
        return Decision(False, f"{n} evaluation pairs, fewer than {rule.min_pairs}", n)
    gap = float(qc.mean() - qe.mean())
    if gap <= 0:
        return Decision(False, "the expensive tier is not better on the evaluation pairs: nothing to route for", n)
    live_curve = quality_curve(s_live, qe, qc, shares=_GRID)
    cand_curve = quality_curve(s_cand, qe, qc, shares=_GRID)
    advantage = (float(np.mean(cand_curve.quality)) - float(np.mean(live_curve.quality))) / gap
    rng = np.random.default_rng(seed)
    deltas = np.empty(rule.n_boot)
    for b in range(rule.n_boot):
        idx = rng.integers(0, n, size=n)
        deltas[b] = _area(s_cand[idx], qe[idx], qc[idx]) - _area(s_live[idx], qe[idx], qc[idx])
    low = float(np.quantile(deltas, 1.0 - rule.confidence)) / gap
    figures = {
        "apgr_live": apgr(live_curve),
        "apgr_candidate": apgr(cand_curve),
        "advantage": advantage,
        "advantage_low": low,
    }
    if low > rule.margin:
        return Decision(True, f"better by {advantage:+.3f} APGR (lower bound {low:+.3f} > {rule.margin})", n, **figures)
    return Decision(False, f"not better with confidence (lower bound {low:+.3f} ≤ {rule.margin})", n, **figures)
