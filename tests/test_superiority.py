"""D_i and PRS (DESIGN §1): the formula and its properties."""

from __future__ import annotations

import numpy as np
import pytest

from routet2i.superiority import (
    mu_gaps,
    normalise_weights,
    pareto_superiority,
    relative_superiority,
    sigmoid,
    weights_for,
)

RNG = np.random.default_rng(0)
QE = RNG.uniform(0, 1, size=(50, 4))
QC = RNG.uniform(0, 1, size=(50, 4))


def test_formula_by_hand() -> None:
    qe = np.array([[0.8, 0.2]])
    qc = np.array([[0.6, 0.5]])
    gaps = np.array([0.1, 0.3])
    d = relative_superiority(qe, qc, gaps, gamma=2.0)
    expected = 1 / (1 + np.exp(-np.array([0.2 / 0.2, -0.3 / 0.6])))
    np.testing.assert_allclose(d[0], expected)
    np.testing.assert_allclose(pareto_superiority(d, [3, 1]), [0.75 * expected[0] + 0.25 * expected[1]])


def test_mu_gaps_are_absolute_mean_differences() -> None:
    np.testing.assert_allclose(mu_gaps(QE, QC), np.abs(QE.mean(0) - QC.mean(0)))


def test_swapping_edge_and_cloud_gives_one_minus_prs() -> None:
    gaps = mu_gaps(QE, QC)
    prs = pareto_superiority(relative_superiority(QE, QC, gaps))
    swapped = pareto_superiority(relative_superiority(QC, QE, mu_gaps(QC, QE)))
    np.testing.assert_allclose(swapped, 1 - prs)


def test_equal_qualities_give_one_half() -> None:
    gaps = mu_gaps(QE, QC)
    np.testing.assert_allclose(pareto_superiority(relative_superiority(QE, QE, gaps)), 0.5)


def test_prs_rises_when_the_edge_improves_on_any_metric() -> None:
    gaps = mu_gaps(QE, QC)
    d = relative_superiority(QE, QC, gaps)
    base = pareto_superiority(d)
    for i in range(QE.shape[1]):
        better = QE.copy()
        better[:, i] += 0.05
        new = pareto_superiority(relative_superiority(better, QC, gaps))
        assert np.all(new >= base)
        unsaturated = (d[:, i] > 1e-6) & (d[:, i] < 1 - 1e-6)  # a saturated D_i cannot move in float64
        assert unsaturated.sum() > 10
        assert np.all(new[unsaturated] > base[unsaturated])


def test_zero_gap_is_a_sign_test_without_division_by_zero() -> None:
    qe = np.array([[1.0], [0.5], [0.2]])
    qc = np.array([[0.5], [0.5], [0.5]])
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        d = relative_superiority(qe, qc, np.array([0.0]))
    np.testing.assert_allclose(d[:, 0], [1.0, 0.5, 0.0])
    assert np.isfinite(d).all()


def test_d_is_invariant_to_affine_rescaling_of_a_metric() -> None:
    d1 = relative_superiority(QE, QC, mu_gaps(QE, QC))
    qe2, qc2 = 4 * QE + 1, 4 * QC + 1
    np.testing.assert_allclose(relative_superiority(qe2, qc2, mu_gaps(qe2, qc2)), d1)


def test_missing_metrics_renormalise_weights() -> None:
    d = np.array([[0.9, np.nan, 0.3], [np.nan, np.nan, np.nan]])
    prs = pareto_superiority(d, [1, 1, 2])
    assert prs[0] == pytest.approx((0.9 + 2 * 0.3) / 3)
    assert np.isnan(prs[1])


def test_mu_gaps_ignore_prompts_missing_either_score() -> None:
    qe = np.array([[1.0], [np.nan], [3.0]])
    qc = np.array([[0.0], [9.0], [1.0]])
    np.testing.assert_allclose(mu_gaps(qe, qc), [1.5])


def test_sigmoid_is_stable_at_extremes() -> None:
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        out = sigmoid(np.array([-1e4, -50.0, 0.0, 50.0, 1e4, np.inf, -np.inf]))
    assert out[0] == 0.0 and out[-1] == 0.0 and out[-2] == 1.0 and out[2] == 0.5


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="gamma"):
        relative_superiority(QE, QC, mu_gaps(QE, QC), gamma=0)
    with pytest.raises(ValueError, match="shape"):
        relative_superiority(QE, QC[:, :2], mu_gaps(QE, QC))
    with pytest.raises(ValueError, match="non-negative"):
        normalise_weights([1, -1], 2)
    with pytest.raises(ValueError, match="unknown metrics"):
        weights_for(["a", "b"], {"c": 1.0})
    np.testing.assert_allclose(weights_for(["a", "b"], {"a": 3.0}), [1.0, 0.0])
