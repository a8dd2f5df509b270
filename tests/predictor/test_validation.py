"""Routing figures: Spearman, masked MSE and the quality gain at a cloud share (PGR)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from routet2i.predictor.validation import figures, masked_mse, quality_gain, spearman


def test_quality_gain_perfect_reversed_and_all() -> None:
    q_edge = np.array([[0.0], [0.0], [1.0], [1.0]])
    q_cloud = np.array([[1.0], [1.0], [1.0], [1.0]])  # the cloud gains only on the first two
    good = np.array([0.1, 0.2, 0.8, 0.9])  # lowest PRŜ exactly where the cloud is better
    assert quality_gain(good, q_edge, q_cloud, 0.5) == pytest.approx(1.0)
    assert quality_gain(good[::-1], q_edge, q_cloud, 0.5) == pytest.approx(0.0)
    assert quality_gain(good, q_edge, q_cloud, 1.0) == pytest.approx(1.0)
    assert quality_gain(good, q_edge, q_cloud, 0.0) == pytest.approx(0.0)


def test_quality_gain_averages_present_metrics() -> None:
    q_edge = np.array([[0.0, np.nan], [2.0, 2.0]])
    q_cloud = np.array([[2.0, 5.0], [2.0, 2.0]])
    # prompt 0: only metric 0 is present for both: gain 2; prompt 1: no gain
    assert quality_gain([0.0, 1.0], q_edge, q_cloud, 0.5) == pytest.approx(1.0)
    assert math.isnan(quality_gain([0.0, 1.0], q_cloud[:, :1] * 0 + 1, q_cloud[:, :1] * 0 + 1, 0.5))


def test_spearman_and_mse() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert masked_mse([[0.5, 0.5]], [[1.0, np.nan]]) == pytest.approx(0.25)


def test_figures_keys() -> None:
    rng = np.random.default_rng(0)
    prs = rng.random(50)
    d = prs[:, None]
    q_e, q_c = rng.random((50, 1)), rng.random((50, 1))
    f = figures(prs, d, prs, d, q_e, q_c)
    assert f["d_mse"] == 0.0 and f["spearman_prs"] == pytest.approx(1.0)
    assert f["pgr_at_50"] == f["oracle_pgr_at_50"]
    assert set(f) == {"n", "d_mse", "prs_mse", "spearman_prs", "pgr_at_50", "oracle_pgr_at_50", "cloud_better_share"}
