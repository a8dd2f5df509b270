r"""Quality against cloud share, and the numbers read off that curve.

A router ranks prompts by how much they need the cloud (a *cloud score*: higher → sent to the
cloud first). Sending the top ``c`` share of the prompts to the cloud and keeping the rest on the
edge gives, per prompt, the cloud's quality or the edge's; :func:`quality_curve` is their mean as a
function of ``c`` in [0, 1]::

    Q(c) = mean_i q_edge[i] + (1/P) * sum_{i in top c·P} (q_cloud[i] - q_edge[i])

**Ties and fractional shares are taken in expectation**, exactly: within a block of prompts with
equal scores each is equally likely to be picked first, so taking ``j`` of a block of ``m`` adds
``j`` times the block's mean gain, and a fractional ``c·P`` interpolates linearly between
neighbouring integers. The curve is therefore piecewise linear with a knot at every end of a
tie block, and a router that gives every prompt the same score *is* the random router's
expectation: a straight line from Q_edge to Q_cloud, PGR(c) = c, APGR = 0.5 exactly.

**Groups.** Under cross-validation each fold's prompts are ranked by the model trained without
them; scores of two fold models are not on one scale, so each group (fold) is routed at share
``c`` on its own and the curves are averaged, weighted by group size. With one group this is the
plain curve.

From the curve (with Q_edge = Q(0), Q_cloud = Q(1)):

- PGR(c) = (Q(c) - Q_edge) / (Q_cloud - Q_edge), the share of the cloud's quality gain recovered;
- APGR = the mean of PGR over the even grid c = 0, 1/G, …, 1 (G = 100 by default);
- the smallest cloud share whose PGR reaches 0.95 (95 % of the all-cloud gain; RouteLLM's
  call-performance threshold CPT(95 %)); a ratio of absolute qualities would depend on the
  scale's origin (z-scores are centred on zero), a share of the gain does not;
- the win rate at ``c``: the expected share of prompts sent to the tier whose quality is at least
  the other's (a tie counts as a win for either tier).

PGR means nothing when Q_cloud - Q_edge is about zero, negative, or not distinguishable from
zero on the prompts at hand: :func:`gap_is_meaningful` says so, and reports then show absolute
quality and win rates instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: the default even grid of cloud shares: 0 %, 1 %, …, 100 %.
DEFAULT_GRID_POINTS = 101
#: the share of the all-cloud gain whose smallest cloud share is reported.
TARGET_GAIN_SHARE = 0.95
#: below this mean(gain) / std(gain) (Cohen's d of the per-prompt gain) PGR is not reported.
MIN_EFFECT_SIZE = 0.1
#: and below this z of the mean gain (d · sqrt(P)) the gap is indistinguishable from zero.
MIN_GAP_Z = 2.0


def even_grid(points: int = DEFAULT_GRID_POINTS) -> FloatArray:
    """``points`` evenly spaced cloud shares from 0 to 1 inclusive."""
    if points < 2:
        raise ValueError(f"a grid needs at least 2 points, got {points}")
    return np.linspace(0.0, 1.0, points)


def expected_top_sum(scores: ArrayLike, values: ArrayLike, shares: ArrayLike) -> FloatArray:
    """E[sum of ``values`` over the top ``share·P`` prompts by ``scores``], per share.

    Ties in ``scores`` are broken uniformly at random (in expectation) and fractional counts
    interpolate linearly. ``scores`` must be finite. Shape: that of ``shares``.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if s.shape != v.shape:
        raise ValueError(f"{s.shape[0]} scores for {v.shape[0]} values")
    if not np.isfinite(s).all():
        raise ValueError("router scores must be finite (a NaN or inf score cannot be ranked)")
    c = np.asarray(shares, dtype=np.float64)
    n = s.shape[0]
    if n == 0:
        return np.zeros_like(c)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    v_sorted = v[order]
    # ends of tie blocks (exclusive indices into the sorted arrays)
    ends = np.flatnonzero(np.diff(s_sorted) != 0) + 1
    ends = np.append(ends, n)
    cum = np.concatenate([[0.0], np.cumsum(v_sorted)])
    knots_x = np.concatenate([[0], ends]).astype(np.float64)
    knots_y = cum[np.concatenate([[0], ends])]
    return np.asarray(np.interp(np.clip(c, 0.0, 1.0) * n, knots_x, knots_y), dtype=np.float64)


@dataclass(frozen=True)
class QualityCurve:
    """Q(c) on a grid of cloud shares, plus the win-rate curve and the two end points."""

    shares: FloatArray
    quality: FloatArray
    win_rate: FloatArray
    q_edge: float
    q_cloud: float
    n_prompts: int

    def pgr(self) -> FloatArray:
        """PGR(c) on the grid (meaningless where :meth:`gap` is about zero; see the module)."""
        return (self.quality - self.q_edge) / (self.q_cloud - self.q_edge)

    def gap(self) -> float:
        return self.q_cloud - self.q_edge

    def at(self, share: float) -> float:
        """Q at any share (linear between grid points)."""
        return float(np.interp(share, self.shares, self.quality))

    def win_rate_at(self, share: float) -> float:
        return float(np.interp(share, self.shares, self.win_rate))


def quality_curve(
    scores: ArrayLike,
    q_edge: ArrayLike,
    q_cloud: ArrayLike,
    groups: ArrayLike | None = None,
    shares: ArrayLike | None = None,
) -> QualityCurve:
    """The curve of mean quality against cloud share for one router on one quality view.

    ``scores``: the router's cloud scores (P,), higher → cloud first. ``q_edge`` / ``q_cloud``: the
    two tiers' quality per prompt (P,), no NaN (drop missing prompts first). ``groups``: an id per
    prompt; each group is routed at share ``c`` on its own (see the module). ``shares``: the grid
    (default :func:`even_grid`).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    qe = np.asarray(q_edge, dtype=np.float64).reshape(-1)
    qc = np.asarray(q_cloud, dtype=np.float64).reshape(-1)
    if not (s.shape == qe.shape == qc.shape):
        raise ValueError(f"shapes differ: scores {s.shape}, q_edge {qe.shape}, q_cloud {qc.shape}")
    if s.shape[0] == 0:
        raise ValueError("no prompt to evaluate")
    if np.isnan(qe).any() or np.isnan(qc).any():
        raise ValueError("quality has NaN; keep only the prompts where both tiers are scored")
    grid = even_grid() if shares is None else np.asarray(shares, dtype=np.float64)
    g = np.zeros(s.shape[0], dtype=np.int64) if groups is None else np.asarray(groups).reshape(-1)
    if g.shape != s.shape:
        raise ValueError(f"{g.shape[0]} group ids for {s.shape[0]} prompts")
    gain = qc - qe
    edge_ok = (gain <= 0).astype(np.float64)
    cloud_ok = (gain >= 0).astype(np.float64)
    n = s.shape[0]
    total_gain = np.zeros_like(grid)
    total_win = np.zeros_like(grid)
    for gid in np.unique(g):
        idx = np.flatnonzero(g == gid)
        total_gain += expected_top_sum(s[idx], gain[idx], grid)
        total_win += edge_ok[idx].sum() + expected_top_sum(s[idx], cloud_ok[idx] - edge_ok[idx], grid)
    q_edge_mean = float(qe.mean())
    return QualityCurve(
        shares=grid,
        quality=q_edge_mean + total_gain / n,
        win_rate=total_win / n,
        q_edge=q_edge_mean,
        q_cloud=float(qc.mean()),
        n_prompts=n,
    )


def gap_effect_size(q_edge: ArrayLike, q_cloud: ArrayLike) -> float:
    """mean(q_cloud - q_edge) / std(q_cloud - q_edge): how clearly the cloud is better on average."""
    gain = np.asarray(q_cloud, dtype=np.float64) - np.asarray(q_edge, dtype=np.float64)
    sd = float(gain.std())
    mean = float(gain.mean())
    if sd == 0.0:
        return float("inf") if mean > 0 else (0.0 if mean == 0 else float("-inf"))
    return mean / sd


def gap_is_meaningful(
    q_edge: ArrayLike, q_cloud: ArrayLike, min_effect: float = MIN_EFFECT_SIZE, min_z: float = MIN_GAP_Z
) -> bool:
    """True when the cloud is better on average by at least ``min_effect`` standard deviations of
    the per-prompt gain *and* that mean is ``min_z`` standard errors above zero (d · sqrt(P) ≥
    ``min_z``), so that PGR's denominator is neither tiny nor noise."""
    d = gap_effect_size(q_edge, q_cloud)
    n = np.asarray(q_edge).size
    return bool(d >= min_effect and d * np.sqrt(n) >= min_z)


def apgr(curve: QualityCurve) -> float:
    """The mean of PGR over the curve's grid (an even grid gives the area under PGR(c))."""
    return float(np.mean(curve.pgr()))


def share_to_reach(curve: QualityCurve, gain_share: float = TARGET_GAIN_SHARE) -> float:
    """The smallest cloud share whose PGR reaches ``gain_share`` (linear between grid points);
    1.0 when only all-cloud does. Meaningful only where the gap is (see the module)."""
    pgr = curve.pgr()
    hit = np.flatnonzero(pgr >= gain_share - 1e-12)
    if hit.size == 0:
        return 1.0
    i = int(hit[0])
    if i == 0:
        return float(curve.shares[0])
    x0, x1 = curve.shares[i - 1], curve.shares[i]
    y0, y1 = pgr[i - 1], pgr[i]
    return float(x0 + (gain_share - y0) * (x1 - x0) / (y1 - y0))


@dataclass(frozen=True)
class CurveSummary:
    """The numbers a report shows for one router on one quality view."""

    apgr: float | None
    pgr_30: float | None
    pgr_50: float | None
    share_95: float | None
    mean_quality: float
    quality_30: float
    quality_50: float
    win_rate_30: float
    win_rate_50: float


def summarise(curve: QualityCurve, meaningful: bool) -> CurveSummary:
    """Read the report's numbers off ``curve``; PGR-based ones are None where not ``meaningful``.

    ``mean_quality`` is the mean of Q(c) over the grid (the area under the quality curve), the
    absolute counterpart of APGR.
    """
    return CurveSummary(
        apgr=apgr(curve) if meaningful else None,
        pgr_30=float(np.interp(0.3, curve.shares, curve.pgr())) if meaningful else None,
        pgr_50=float(np.interp(0.5, curve.shares, curve.pgr())) if meaningful else None,
        share_95=share_to_reach(curve) if meaningful else None,
        mean_quality=float(np.mean(curve.quality)),
        quality_30=curve.at(0.3),
        quality_50=curve.at(0.5),
        win_rate_30=curve.win_rate_at(0.3),
        win_rate_50=curve.win_rate_at(0.5),
    )


def bootstrap_apgr(
    scores: ArrayLike,
    q_edge: ArrayLike,
    q_cloud: ArrayLike,
    groups: ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    grid_points: int = 51,
) -> tuple[float, float]:
    """A percentile bootstrap confidence interval on APGR: prompts resampled with replacement
    within each group, the curve and APGR recomputed (on a ``grid_points`` grid) each time.

    The router's scores stay fixed (the variation measured is that of the test prompts, not of
    retraining). Returns (low, high); NaN, NaN where no resample has a positive gap.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    qe = np.asarray(q_edge, dtype=np.float64).reshape(-1)
    qc = np.asarray(q_cloud, dtype=np.float64).reshape(-1)
    g = np.zeros(s.shape[0], dtype=np.int64) if groups is None else np.asarray(groups).reshape(-1)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(g == gid) for gid in np.unique(g)]
    grid = even_grid(grid_points)
    values: list[float] = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(m, size=m.size, replace=True) for m in members])
        groups_b = g[idx]
        curve = quality_curve(s[idx], qe[idx], qc[idx], groups=groups_b, shares=grid)
        if curve.gap() > 0:
            values.append(apgr(curve))
    if not values:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(values), [alpha, 1.0 - alpha])
    return float(low), float(high)


def mean_curve(curves: Sequence[QualityCurve]) -> QualityCurve:
    """The prompt-weighted mean of curves on one grid (used to pool pairs in a summary)."""
    if not curves:
        raise ValueError("no curve to average")
    w = np.asarray([c.n_prompts for c in curves], dtype=np.float64)
    w = w / w.sum()
    return QualityCurve(
        shares=curves[0].shares,
        quality=np.sum([wi * c.quality for wi, c in zip(w, curves, strict=True)], axis=0),
        win_rate=np.sum([wi * c.win_rate for wi, c in zip(w, curves, strict=True)], axis=0),
        q_edge=float(sum(wi * c.q_edge for wi, c in zip(w, curves, strict=True))),
        q_cloud=float(sum(wi * c.q_cloud for wi, c in zip(w, curves, strict=True))),
        n_prompts=int(sum(c.n_prompts for c in curves)),
    )
