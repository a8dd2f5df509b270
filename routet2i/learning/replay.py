"""``routet2i replay``'s engine: a rated pair streamed as live traffic through the learner.

The stream is the pair's prompts in a seeded random order. A ``shadow_rate`` share of them (drawn
with the same seed) reveal both tiers' quality to the :class:`~routet2i.learning.learner.Learner`
(the table's human or CLIP scores stand in for the scorer), which retrains every
``retrain_every`` shadow pairs with the same schedule, fits and promotion rule as ``routet2i
learn``. After the start and after every retrain, the curve records the APGR of the live router
on the traffic not yet seen. At the end, the starting and the final router are measured on the
same prompts: those that were not shadowed, which no router of the run trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routet2i.evaluation.curves import apgr, quality_curve
from routet2i.learning.learner import Learner, LearnerPolicy
from routet2i.superiority import FloatArray


@dataclass(frozen=True)
class CurvePoint:
    """The live router after a retrain (or at the start)."""

    seen: int
    n_shadow: int
    promoted: bool
    #: APGR of the live router on the prompts not yet seen (None once fewer than 10 are left).
    apgr_unseen: float | None
    reason: str = ""


@dataclass
class ReplayRun:
    """One seeded pass over the stream."""

    seed: int
    n_prompts: int
    n_shadow: int
    apgr_start: float
    apgr_final: float
    promotions: int
    #: shadow pairs seen when the first candidate was promoted (None: never).
    shadow_pairs_to_first_promotion: int | None
    curve: list[CurvePoint] = field(default_factory=list)
    final_fit: dict[str, float | int | str] = field(default_factory=dict)


def _apgr(scores: FloatArray, qe: FloatArray, qc: FloatArray) -> float | None:
    if scores.shape[0] < 10 or qc.mean() - qe.mean() <= 0:
        return None
    return apgr(quality_curve(scores, qe, qc))


def replay_once(
    prior: FloatArray,
    x: FloatArray,
    q_edge: FloatArray,
    q_cloud: FloatArray,
    *,
    shadow_rate: float,
    policy: LearnerPolicy,
    seed: int,
) -> ReplayRun:
    """One pass: per prompt the base router's prior score (P,), its embedding (P, d) and both
    tiers' quality (P,)."""
    if not 0.0 < shadow_rate <= 1.0:
        raise ValueError(f"shadow_rate must be in (0, 1], got {shadow_rate}")
    p, xs = np.asarray(prior, np.float64), np.asarray(x, np.float64)
    qe, qc = np.asarray(q_edge, np.float64), np.asarray(q_cloud, np.float64)
    n = p.shape[0]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    shadowed: np.ndarray = np.asarray(rng.random(n) < shadow_rate, dtype=bool)
    learner = Learner(policy.model_copy(update={"seed": policy.seed + seed}))

    def point(step: int, promoted: bool, reason: str) -> CurvePoint:
        rest = order[step:]
        return CurvePoint(
            step, len(learner), promoted, _apgr(learner.scores(p[rest], xs[rest]), qe[rest], qc[rest]), reason
        )

    curve = [point(0, False, "start")]
    first: int | None = None
    for step, i in enumerate(order, 1):
        if not shadowed[i]:
            continue
        learner.add(p[i : i + 1], xs[i : i + 1], qe[i : i + 1], qc[i : i + 1])
        if learner.due():
            done = learner.retrain()
            if done.decision.promote and first is None:
                first = len(learner)
            curve.append(point(step, done.decision.promote, done.decision.reason))
    held = ~shadowed
    start = _apgr(p[held], qe[held], qc[held])
    final = _apgr(learner.scores(p[held], xs[held]), qe[held], qc[held])
    return ReplayRun(
        seed=seed,
        n_prompts=n,
        n_shadow=int(shadowed.sum()),
        apgr_start=float("nan") if start is None else start,
        apgr_final=float("nan") if final is None else final,
        promotions=sum(r.decision.promote for r in learner.history),
        shadow_pairs_to_first_promotion=first,
        curve=curve,
        final_fit=learner.live.describe() if learner.live is not None else {"kind": "base router"},
    )


def summarise(runs: list[ReplayRun]) -> dict[str, object]:
    """Means and spreads over the repeats (the results.json head)."""
    start = np.asarray([r.apgr_start for r in runs])
    final = np.asarray([r.apgr_final for r in runs])
    firsts = [r.shadow_pairs_to_first_promotion for r in runs]
    return {
        "repeats": len(runs),
        "n_prompts": runs[0].n_prompts,
        "n_shadow": float(np.mean([r.n_shadow for r in runs])),
        "apgr_start": float(np.nanmean(start)),
        "apgr_final": float(np.nanmean(final)),
        "apgr_gain": float(np.nanmean(final - start)),
        "apgr_gain_sd": float(np.nanstd(final - start)),
        "apgr_gain_min": float(np.nanmin(final - start)),
        "promotions": float(np.mean([r.promotions for r in runs])),
        "shadow_pairs_to_first_promotion": firsts,
    }
