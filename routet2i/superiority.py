r"""Per-metric relative superiority D_i and the Pareto relative superiority (PRS).

Pure, vectorised numpy functions shared by training (targets), serving (PRŜ from predicted D̂)
and evaluation. Shapes: ``P`` prompts, ``N`` metrics. A missing score is ``NaN``.

For prompt X and metric i, with q_e,i / q_c,i the edge / cloud quality (any real scale, higher is
better) and mu_e,i / mu_c,i their means over the training prompts (RouteT2I, DESIGN §1)::

    D_i = sigmoid( (q_e,i - q_c,i) / (Gamma * |mu_e,i - mu_c,i|) )      in (0, 1)
    PRS = sum_i w_i * D_i,   sum_i w_i = 1                                in (0, 1)

D_i > 0.5 means the edge image is better on metric i; PRS > 0.5 the edge is better overall.
Because the difference is divided by the typical gap, D_i is unchanged by any positive affine
rescaling of metric i (so a 1–5 Likert score and a 0–1 CLIP score are comparable), and swapping
edge and cloud maps D_i to 1 - D_i and PRS to 1 - PRS.

**Zero gaps.** Where |mu_e,i - mu_c,i| is below ``min_gap`` the gap is clamped to ``min_gap``.
No division by zero happens; in the limit D_i becomes a sign test (→ 0 or 1, exactly 0.5 when the
two scores are equal). ``min_gap`` is in the metric's own units (default 1e-6).

**Missing metrics.** Where a score is NaN, D_i is NaN and PRS renormalises the weights over the
metrics that are present for that prompt (NaN if none is).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

DEFAULT_MIN_GAP = 1e-6


def sigmoid(x: ArrayLike) -> FloatArray:
    """Numerically stable logistic function; ±inf map to 1 / 0, NaN stays NaN."""
    z = np.asarray(x, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    neg = ~pos & ~np.isnan(z)
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[neg])
    out[neg] = ez / (1.0 + ez)
    out[np.isnan(z)] = np.nan
    return out


def mu_gaps(q_edge: ArrayLike, q_cloud: ArrayLike) -> FloatArray:
    """|mu_e,i - mu_c,i| per metric: the absolute gap of the two models' means, shape (N,).

    Means are over prompts where *both* scores are present, so a metric missing for some
    prompts does not bias the gap. A metric with no prompt at all gets NaN.
    """
    qe = np.atleast_2d(np.asarray(q_edge, dtype=np.float64))
    qc = np.atleast_2d(np.asarray(q_cloud, dtype=np.float64))
    _check_same_shape(qe, qc)
    both = ~np.isnan(qe) & ~np.isnan(qc)
    count = both.sum(axis=0)
    diff = np.where(both, qe - qc, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(diff / count)
    gap[count == 0] = np.nan
    return np.asarray(gap, dtype=np.float64)


def relative_superiority(
    q_edge: ArrayLike,
    q_cloud: ArrayLike,
    gaps: ArrayLike,
    gamma: float = 1.0,
    min_gap: float = DEFAULT_MIN_GAP,
) -> FloatArray:
    """D = sigmoid((q_e - q_c) / (gamma * max(gap, min_gap))), elementwise, shape (P, N).

    ``gaps`` is the (N,) output of :func:`mu_gaps` on the *training* prompts; ``gamma`` > 0 is the
    temperature (larger → D closer to 0.5).
    """
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if min_gap <= 0:
        raise ValueError(f"min_gap must be > 0, got {min_gap}")
    qe = np.atleast_2d(np.asarray(q_edge, dtype=np.float64))
    qc = np.atleast_2d(np.asarray(q_cloud, dtype=np.float64))
    _check_same_shape(qe, qc)
    g = np.asarray(gaps, dtype=np.float64).reshape(-1)
    if g.shape[0] != qe.shape[1]:
        raise ValueError(f"gaps has {g.shape[0]} metrics, scores have {qe.shape[1]}")
    scale = gamma * np.maximum(np.nan_to_num(g, nan=min_gap), min_gap)
    return sigmoid((qe - qc) / scale)


def normalise_weights(weights: ArrayLike | None, n_metrics: int) -> FloatArray:
    """Weights as a (N,) array summing to 1 (uniform if None). Negative or all-zero is an error."""
    if weights is None:
        return np.full(n_metrics, 1.0 / n_metrics)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n_metrics:
        raise ValueError(f"{w.shape[0]} weights for {n_metrics} metrics")
    if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return np.asarray(w / w.sum(), dtype=np.float64)


def weights_for(names: Sequence[str], weights: Mapping[str, float] | None) -> FloatArray:
    """Weights in the order of ``names`` from a name → weight mapping (missing names weigh 0)."""
    if not weights:
        return normalise_weights(None, len(names))
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"weights name unknown metrics {sorted(unknown)}; metrics are {list(names)}")
    return normalise_weights([float(weights.get(n, 0.0)) for n in names], len(names))


def parse_metric_weights(text: str, option: str = "--weights") -> dict[str, float] | None:
    """``"alignment=0.7,quality=0.3"`` → ``{"alignment": 0.7, "quality": 0.3}`` (empty → None).

    Only the syntax is checked here (a :class:`~routet2i.errors.ConfigError` naming ``option``);
    names and values are checked against the metrics where the weights are used
    (:func:`weights_for`)."""
    from routet2i.errors import ConfigError

    if not text.strip():
        return None
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{option}: expected NAME=NUMBER[,NAME=NUMBER…], got {item!r}") from None
    return out


def pareto_superiority(d: ArrayLike, weights: ArrayLike | None = None) -> FloatArray:
    """PRS = sum_i w_i D_i per prompt, shape (P,), renormalising ``w`` over non-NaN D_i.

    Accepts (N,) for one prompt or (P, N). ``weights`` need not sum to 1 (they are normalised).
    """
    dd = np.atleast_2d(np.asarray(d, dtype=np.float64))
    w = normalise_weights(weights, dd.shape[1])
    present = ~np.isnan(dd)
    wp = np.where(present, w, 0.0)
    total = wp.sum(axis=1)
    num = np.where(present, dd, 0.0) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / total
    out[total == 0] = np.nan
    return np.asarray(out, dtype=np.float64)


def _check_same_shape(a: FloatArray, b: FloatArray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"edge and cloud scores differ in shape: {a.shape} vs {b.shape}")
