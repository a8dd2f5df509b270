"""The curve metrics on hand-made qualities with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from routet2i.evaluation.curves import (
    apgr,
    bootstrap_apgr,
    even_grid,
    expected_top_sum,
    gap_is_meaningful,
    quality_curve,
    share_to_reach,
    summarise,
)

# Four prompts; the edge scores 0 everywhere, so the gain of the cloud is q_cloud itself.
Q_EDGE = np.zeros(4)
Q_CLOUD = np.array([3.0, 1.0, 0.0, -1.0])
GRID5 = even_grid(5)  # 0, 25 %, 50 %, 75 %, 100 %: one prompt per step


def test_oracle_gives_the_known_curve() -> None:
    curve = quality_curve(Q_CLOUD - Q_EDGE, Q_EDGE, Q_CLOUD, shares=GRID5)
    # top-k sums of the sorted gains 3, 1, 0, -1, divided by 4 prompts
    np.testing.assert_allclose(curve.quality, [0.0, 0.75, 1.0, 1.0, 0.75])
    assert curve.q_edge == 0.0 and curve.q_cloud == 0.75
    np.testing.assert_allclose(curve.pgr(), [0.0, 1.0, 4 / 3, 4 / 3, 1.0])
    assert apgr(curve) == pytest.approx((0 + 1 + 4 / 3 + 4 / 3 + 1) / 5)
    # PGR reaches 0.95 between 0 % and 25 %: linear interpolation, 0.95 of the first step
    assert share_to_reach(curve) == pytest.approx(0.25 * 0.95)
    # win rate: edge wins (gain <= 0) on prompts 3 and 4; sending prompt 1, then 2 to the cloud wins
    np.testing.assert_allclose(curve.win_rate, [0.5, 0.75, 1.0, 1.0, 0.75])


def test_random_is_exactly_half_on_any_even_grid() -> None:
    rng = np.random.default_rng(0)
    qe, qc = rng.normal(size=50), rng.normal(size=50) + 0.5
    for points in (5, 11, 101):
        curve = quality_curve(np.zeros(50), qe, qc, shares=even_grid(points))
        np.testing.assert_allclose(curve.pgr(), curve.shares, atol=1e-12)
        assert apgr(curve) == pytest.approx(0.5, abs=1e-12)


def test_ties_are_taken_in_expectation_over_every_tie_order() -> None:
    scores = np.array([2.0, 1.0, 1.0, 1.0, 0.0])
    values = np.array([5.0, 4.0, -2.0, 1.0, 7.0])
    shares = np.arange(6) / 5
    got = expected_top_sum(scores, values, shares)
    # brute force: every order of the tied block, top-k sums averaged
    tied = [1, 2, 3]
    sums = []
    for perm in itertools.permutations(tied):
        order = [0, *perm, 4]
        sums.append([values[order[:k]].sum() for k in range(6)])
    np.testing.assert_allclose(got, np.mean(sums, axis=0))


def test_an_inverted_router_is_below_random_and_the_oracle_above() -> None:
    rng = np.random.default_rng(1)
    qe = rng.normal(size=200)
    qc = qe + rng.normal(0.4, 1.0, size=200)
    gain = qc - qe
    oracle = apgr(quality_curve(gain, qe, qc))
    inverted = apgr(quality_curve(-gain, qe, qc))
    random = apgr(quality_curve(np.zeros(200), qe, qc))
    assert random == pytest.approx(0.5)
    assert inverted < random < oracle
    # the two are mirror images around the random line: APGR(oracle) + APGR(inverted) = 1
    assert oracle + inverted == pytest.approx(1.0)


def test_groups_are_routed_separately_and_averaged_by_size() -> None:
    # group 0 ranks its gains (2, 0) right; group 1 ranks its 4-gain prompt last
    qe = np.zeros(6)
    qc = np.array([2.0, 0.0, 0.0, 4.0, 0.0, 0.0])
    scores = np.array([1.0, 0.0, 9.0, 0.0, 8.0, 7.0])  # group 1 sends the 4 last
    groups = np.array([0, 0, 1, 1, 1, 1])
    curve = quality_curve(scores, qe, qc, groups=groups, shares=np.array([0.0, 0.5, 1.0]))
    # at 50 %: group 0 sends 1 of 2 (gain 2), group 1 sends 2 of 4 (gains 0, 0) → 2 / 6
    np.testing.assert_allclose(curve.quality, [0.0, 2.0 / 6.0, 1.0])
    # pooled (one group), the top half by score is 9, 8, 7 → gains 0, 0, 0
    pooled = quality_curve(scores, qe, qc, shares=np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(pooled.quality, [0.0, 0.0, 1.0])


def test_a_gap_of_noise_is_not_meaningful_and_pgr_is_withheld() -> None:
    qe = np.array([1.0, 2.0, 3.0, 4.0])
    qc = np.array([2.0, 1.0, 4.0, 3.0])  # cloud better on half, worse on half: mean gap 0
    assert not gap_is_meaningful(qe, qc)
    summary = summarise(quality_curve(qc - qe, qe, qc), meaningful=False)
    assert summary.apgr is None and summary.pgr_50 is None and summary.share_95 is None
    assert summary.quality_50 == pytest.approx(3.0)  # the two cloud wins sent first: (2+2+4+4)/4
    assert summary.win_rate_50 == pytest.approx(1.0)
    assert not gap_is_meaningful(np.zeros(4), Q_CLOUD)  # d = 0.51 but only 4 prompts: z = 1.0
    assert gap_is_meaningful(np.zeros(40), np.tile(Q_CLOUD, 10))  # the same gap on 40 prompts: z = 3.2


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    qe = rng.normal(size=150)
    qc = qe + rng.normal(0.5, 1.0, size=150)
    scores = (qc - qe) + rng.normal(0, 1.0, size=150)  # a decent, noisy router
    point = apgr(quality_curve(scores, qe, qc, shares=even_grid(51)))
    low, high = bootstrap_apgr(scores, qe, qc, n_boot=200, seed=3)
    assert low < point < high
    assert low > 0.5
    assert (low, high) == bootstrap_apgr(scores, qe, qc, n_boot=200, seed=3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        quality_curve([np.nan, 1.0], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        quality_curve([0.0, 1.0], [0.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="shapes"):
        quality_curve([0.0], [0.0, 0.0], [1.0, 1.0])
