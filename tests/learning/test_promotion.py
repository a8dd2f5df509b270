"""The promotion rule (routet2i/learning/promotion.py)."""

from __future__ import annotations

import numpy as np

from routet2i.learning.promotion import PromotionRule, decide


def _tiers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    qe = rng.normal(size=n)
    gain = rng.normal(0.5, 1.0, size=n)
    return qe, qe + gain, gain


def test_a_clearly_better_candidate_is_promoted() -> None:
    qe, qc, gain = _tiers(200, 0)
    rng = np.random.default_rng(1)
    d = decide(PromotionRule(), rng.normal(size=200), gain + rng.normal(0, 0.3, 200), qe, qc)
    assert d.promote and d.advantage is not None and d.advantage_low is not None
    assert d.advantage > d.advantage_low > 0 and d.apgr_candidate is not None and d.apgr_candidate > 0.7


def test_a_worse_or_equal_candidate_is_not() -> None:
    qe, qc, gain = _tiers(200, 2)
    worse = decide(PromotionRule(), gain, np.zeros(200), qe, qc)
    same = decide(PromotionRule(), gain, gain.copy(), qe, qc)
    assert not worse.promote and worse.advantage is not None and worse.advantage < 0
    assert not same.promote and same.advantage == 0.0


def test_few_pairs_or_no_gap_make_no_decision() -> None:
    qe, qc, gain = _tiers(10, 3)
    assert "fewer than 20" in decide(PromotionRule(), gain, gain, qe, qc).reason
    qe, qc, gain = _tiers(100, 4)
    d = decide(PromotionRule(), np.zeros(100), gain, qc, qe)  # tiers swapped: the cloud is worse
    assert not d.promote and "not better" in d.reason and d.advantage is None


def test_the_margin_is_in_apgr_points() -> None:
    qe, qc, gain = _tiers(300, 5)
    rng = np.random.default_rng(6)
    live, cand = rng.normal(size=300), gain + rng.normal(0, 1.0, 300)
    d = decide(PromotionRule(), live, cand, qe, qc)
    assert d.promote and d.advantage_low is not None
    assert not decide(PromotionRule(margin=d.advantage_low + 0.01), live, cand, qe, qc).promote


def test_the_false_promotion_rate_of_one_decision_is_what_the_confidence_says() -> None:
    """A candidate no better than the live router (both rank at random) over 200 seeds."""
    rule = PromotionRule(n_boot=200)
    promoted = 0
    for seed in range(200):
        qe, qc, _ = _tiers(60, 100 + seed)
        rng = np.random.default_rng(seed)
        promoted += decide(rule, rng.normal(size=60), rng.normal(size=60), qe, qc, seed=seed).promote
    assert promoted / 200 <= 0.09  # 1 - confidence = 0.05, plus the binomial spread of 200 tries
