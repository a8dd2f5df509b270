"""Training rows: the prompt-hash split and per-pair targets with training-only gaps."""

from __future__ import annotations

import numpy as np
import pytest

from routet2i.errors import ConfigError, DataError
from routet2i.predictor.dataset import build_training_data, split_of
from routet2i.ratings.pairs import PairSpec, build_pair, train_gaps
from routet2i.ratings.table import Rating, RatingsTable
from tests.predictor.keyword_data import keyword_prompts, keyword_ratings

PAIR = PairSpec.parse("synthetic/edge-model:cloud-model")


def test_split_depends_only_on_the_text() -> None:
    prompts = keyword_prompts(2000, seed=3)
    labels = [split_of(p, 0.15, 0.15) for p in prompts]
    assert labels == [split_of(p, 0.15, 0.15) for p in prompts]
    shares = {s: labels.count(s) / len(labels) for s in ("train", "validation", "calibration")}
    assert shares["train"] == pytest.approx(0.7, abs=0.04)
    assert shares["validation"] == pytest.approx(0.15, abs=0.03)
    # growing the validation share only moves prompts out of the other splits, never shuffles
    bigger = [split_of(p, 0.25, 0.15) for p in prompts]
    assert all(b == "validation" for a, b in zip(labels, bigger, strict=True) if a == "validation")


def test_targets_use_gaps_of_the_training_prompts_only() -> None:
    table = keyword_ratings(120)
    td = build_training_data(
        table, [PAIR], gamma=1.0, normalise="zscore", weights=None, validation=0.2, calibration=0.2
    )
    pair = build_pair(table, PAIR)
    train_idx = [i for i, p in enumerate(pair.prompts) if split_of(p, 0.2, 0.2) == "train"]
    expected = train_gaps(pair, train_idx)
    assert td.gaps[str(PAIR)] == pytest.approx(dict(zip(pair.metrics, expected.tolist(), strict=True)))
    assert td.metrics == ["alignment", "quality"]
    # D below 0.5 exactly where the cloud wins the metric (its keyword is present)
    for prompt, d_row in zip(td.prompts, td.d, strict=True):
        assert (d_row[0] < 0.5) == ("zebra" in prompt.split())
        assert (d_row[1] < 0.5) == ("castle" in prompt.split())
    np.testing.assert_allclose(td.prs, td.d.mean(axis=1))
    assert set(td.counts()) == {"train", "validation", "calibration"} and sum(td.counts().values()) == len(td)


def test_pairs_with_different_metrics_pool_with_nan() -> None:
    table = keyword_ratings(60)
    other = RatingsTable()
    for r in keyword_ratings(40, seed=9):
        if r.metric == "alignment":
            other.rows.append(Rating(**{**r.__dict__, "dataset": "other"}))
    table.extend(other.rows)
    td = build_training_data(
        table,
        [PAIR, PairSpec.parse("other/edge-model:cloud-model")],
        gamma=1.0,
        normalise="zscore",
        weights={"alignment": 3.0, "quality": 1.0},
        validation=0.2,
        calibration=0.2,
    )
    assert td.metrics == ["alignment", "quality"]
    rows_other = [i for i, n in enumerate(td.pair_names) if n.startswith("other/")]
    assert len(rows_other) == 40
    assert np.isnan(td.d[rows_other, 1]).all() and not np.isnan(td.d[rows_other, 0]).any()
    # PRS renormalises the weights over the metrics present
    np.testing.assert_allclose(td.prs[rows_other], td.d[rows_other, 0])
    np.testing.assert_allclose(td.weights, [0.75, 0.25])


def test_bad_inputs() -> None:
    table = keyword_ratings(30)
    with pytest.raises(DataError, match="no pair"):
        build_training_data(table, [], gamma=1.0, normalise="zscore", weights=None, validation=0.2, calibration=0.2)
    with pytest.raises(ConfigError, match="weights"):
        build_training_data(
            table, [PAIR], gamma=1.0, normalise="zscore", weights={"nope": 1.0}, validation=0.2, calibration=0.2
        )
    with pytest.raises(DataError, match="not in the ratings"):
        build_training_data(
            table,
            [PairSpec.parse("synthetic/x:y")],
            gamma=1.0,
            normalise="zscore",
            weights=None,
            validation=0.2,
            calibration=0.2,
        )
