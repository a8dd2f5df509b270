"""Calibration of α: the cloud share on the calibration prompts equals the budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from routet2i.errors import CheckpointError, DataError
from routet2i.predictor.calibration import (
    MAX_THRESHOLD,
    QUANTILE_LEVELS,
    Calibration,
    calibrate,
    cloud_share,
    threshold_for_share,
)

BUDGETS = [0.0, 0.05, 0.1, 0.25, 0.3, 0.5, 0.7, 1.0]


@pytest.mark.parametrize("n", [7, 100, 1001])
def test_share_equals_budget_within_one_prompt(n: int) -> None:
    prs = np.random.default_rng(n).uniform(0.0, 0.5, n)  # all below 0.5: α never clamps
    for b in BUDGETS:
        alpha = threshold_for_share(prs, b)
        assert alpha <= MAX_THRESHOLD
        routed = int(np.sum(prs < alpha))
        assert abs(routed - b * n) < 1 + 1e-9, (b, routed)
        assert routed <= b * n + 1e-9


def test_alpha_never_exceeds_one_half() -> None:
    prs = np.linspace(0.3, 0.9, 101)  # only 1/3 of prompts have the cloud predicted better
    assert threshold_for_share(prs, 0.9) == MAX_THRESHOLD
    assert cloud_share(prs, threshold_for_share(prs, 0.9)) < 0.9  # lower than the budget: edge wins the rest
    assert threshold_for_share(prs, 0.1) < MAX_THRESHOLD


def test_ties_give_a_lower_share_never_a_higher_one() -> None:
    prs = np.array([0.2] * 10 + [0.4] * 10)
    assert cloud_share(prs, threshold_for_share(prs, 0.25)) == 0.0
    assert cloud_share(prs, threshold_for_share(prs, 0.5)) == 0.5


def test_calibration_record_and_interpolated_budgets() -> None:
    prs = np.random.default_rng(0).uniform(0.0, 1.0, 500)
    cal = calibrate(prs, [0.2, 0.3], prompts_id="sha1:x", source="test")
    assert cal.levels == list(QUANTILE_LEVELS) and len(cal.quantiles) == 101
    assert cal.thresholds.keys() == {"0.2", "0.3"}
    assert cal.cloud_shares["0.3"] == pytest.approx(0.3, abs=1 / 500)
    assert cal.threshold_for_budget(0.3) == cal.thresholds["0.3"]
    # an uncalibrated budget: interpolated quantile, monotone, clamped to 0.5
    values = [cal.threshold_for_budget(b) for b in np.linspace(0, 1, 41)]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
    assert max(values) == MAX_THRESHOLD and values[0] == 0.0
    assert cloud_share(prs, cal.threshold_for_budget(0.15)) == pytest.approx(0.15, abs=0.01)
    again = Calibration.from_dict(cal.to_dict())
    assert again == cal
    assert "metric_weights" not in cal.to_dict()  # made with the checkpoint's own weights
    weighted = calibrate(prs, [0.2], prompts_id="sha1:x", metric_weights={"alignment": 1.0, "quality": 0.0})
    assert Calibration.from_dict(weighted.to_dict()).metric_weights == {"alignment": 1.0, "quality": 0.0}


def test_bad_budgets_and_records() -> None:
    with pytest.raises(DataError, match="budget"):
        threshold_for_share([0.1, 0.2], 1.5)
    with pytest.raises(DataError, match="finite"):
        threshold_for_share([float("nan")], 0.5)
    with pytest.raises(CheckpointError, match="calibration"):
        Calibration.from_dict({"prompts_id": "x"})
