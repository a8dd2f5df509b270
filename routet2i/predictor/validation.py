r"""Figures that say how well a predictor routes (printed by ``train``, stored in config.json).

- ``d_mse``: mean of (D̂_i − D_i)² over present targets;
- ``spearman_prs``: Spearman rank correlation of PRŜ with the true PRS;
- ``pgr_at_50``: the share of the all-cloud quality gain recovered when the 50 % of prompts with
  the lowest PRŜ go to the cloud. Per prompt, quality = mean over metrics of the normalised score
  q (of the tier it is routed to); Q(s) = mean over prompts when a share s goes to the cloud;
  PGR(s) = (Q(s) − Q_edge) / (Q_cloud − Q_edge). Random routing gives s in expectation;
  ``oracle_pgr_at_50`` ranks by the true PRS instead (the best the ranking can do for that
  target), so the two together say how much of the achievable gain the predictor reaches.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def masked_mse(pred: ArrayLike, target: ArrayLike) -> float:
    """Mean squared error over cells where ``target`` is not NaN (NaN if none is)."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    present = ~np.isnan(t)
    return float(np.mean((p[present] - t[present]) ** 2)) if present.any() else math.nan


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman's rho over pairs where both are finite (NaN with fewer than 3 or no variation)."""
    from scipy.stats import spearmanr

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    return float(spearmanr(x[ok], y[ok]).statistic)


def prompt_quality(q: ArrayLike, present: np.ndarray) -> np.ndarray:
    """Mean over the ``present`` metrics of each prompt's quality (P,)."""
    qq = np.where(present, np.asarray(q, dtype=np.float64), 0.0)
    n = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, qq.sum(axis=1) / n, np.nan)


def quality_gain(prs_hat: ArrayLike, q_edge: ArrayLike, q_cloud: ArrayLike, share: float = 0.5) -> float:
    """PGR(share): the cloud goes to the round(share · P) prompts of lowest ``prs_hat``."""
    qe_all = np.asarray(q_edge, dtype=np.float64)
    qc_all = np.asarray(q_cloud, dtype=np.float64)
    present = ~np.isnan(qe_all) & ~np.isnan(qc_all)
    qe = prompt_quality(qe_all, present)
    qc = prompt_quality(qc_all, present)
    r = np.asarray(prs_hat, dtype=np.float64)
    ok = np.isfinite(qe) & np.isfinite(qc) & np.isfinite(r)
    qe, qc, r = qe[ok], qc[ok], r[ok]
    if len(r) == 0:
        return math.nan
    gap = qc.mean() - qe.mean()
    if abs(gap) < 1e-12:
        return math.nan
    routed = qe.copy()
    cloud = np.argsort(r, kind="stable")[: round(share * len(r))]
    routed[cloud] = qc[cloud]
    return float((routed.mean() - qe.mean()) / gap)


def figures(
    prs_hat: np.ndarray,
    d_hat: np.ndarray | None,
    prs: np.ndarray,
    d: np.ndarray,
    q_edge: np.ndarray,
    q_cloud: np.ndarray,
) -> dict[str, float]:
    """All figures of the module docstring for one set of prompts."""
    out = {
        "n": float(len(prs_hat)),
        "d_mse": masked_mse(d_hat, d) if d_hat is not None else math.nan,
        "prs_mse": masked_mse(prs_hat, prs),
        "spearman_prs": spearman(prs_hat, prs),
        "pgr_at_50": quality_gain(prs_hat, q_edge, q_cloud, 0.5),
        "oracle_pgr_at_50": quality_gain(prs, q_edge, q_cloud, 0.5),
        "cloud_better_share": float(np.mean(prs[np.isfinite(prs)] < 0.5)) if np.isfinite(prs).any() else math.nan,
    }
    return {k: float(v) for k, v in out.items()}
