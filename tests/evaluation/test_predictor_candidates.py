"""Scoring a per-metric predictor per quality view (:func:`view_cloud_scores`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from routet2i.evaluation.predictor_candidates import view_cloud_scores
from routet2i.evaluation.views import AGGREGATE, QualityView, quality_views
from routet2i.ratings.pairs import PairData, PairSpec

D_HAT = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])  # (prompts, [alignment, quality])


class StubRouter:
    """The part of :class:`~routet2i.predictor.inference.CheckpointPredictor` the scoring reads (a unit-test double)."""

    def __init__(self, metrics: Sequence[str], d_hat: np.ndarray | None) -> None:
        self.metrics = list(metrics)
        self.d_hat = d_hat

    def scores(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        prs = np.full(len(prompts), 0.5) if self.d_hat is None else self.d_hat.mean(axis=1)
        return prs, self.d_hat


def view(name: str, weights: dict[str, float]) -> QualityView:
    return QualityView(name, np.zeros(3), np.ones(3), weights)


def test_each_view_is_ranked_by_the_metrics_it_measures() -> None:
    warnings: list[str] = []
    views = [
        view(AGGREGATE, {"alignment": 0.25, "quality": 0.75}),
        view("alignment", {"alignment": 1.0}),
        view("quality", {"quality": 1.0}),
    ]
    scores = view_cloud_scores(StubRouter(["alignment", "quality"], D_HAT), ["a", "b", "c"], views, warnings)
    np.testing.assert_allclose(scores[AGGREGATE], 1 - (0.25 * D_HAT[:, 0] + 0.75 * D_HAT[:, 1]))
    np.testing.assert_allclose(scores["alignment"], 1 - D_HAT[:, 0])
    np.testing.assert_allclose(scores["quality"], 1 - D_HAT[:, 1])
    assert warnings == []


def test_metrics_the_router_does_not_predict_are_named_in_a_warning() -> None:
    warnings: list[str] = []
    router = StubRouter(["alignment"], D_HAT[:, :1])
    views = [view(AGGREGATE, {"alignment": 0.5, "alignment_dsg": 0.5}), view("quality", {"quality": 1.0})]
    for _ in range(2):  # one note per view, however many splits score it
        scores = view_cloud_scores(router, ["a", "b", "c"], views, warnings)
    np.testing.assert_allclose(scores[AGGREGATE], 1 - D_HAT[:, 0])
    np.testing.assert_allclose(scores["quality"], 1 - D_HAT[:, 0])  # falls back to the router's own PRŜ
    assert len(warnings) == 2
    assert "ranked by D̂ of ['alignment'] only" in warnings[0] and "alignment_dsg" in warnings[0]
    assert "predicts none of its metrics ['quality']" in warnings[1]


def test_a_single_prs_head_ranks_every_view_by_its_prs() -> None:
    warnings: list[str] = []
    scores = view_cloud_scores(StubRouter(["alignment"], None), ["a", "b", "c"], [view("x", {"x": 1.0})], warnings)
    np.testing.assert_allclose(scores["x"], 0.5)
    assert len(warnings) == 1


def test_views_carry_their_metric_weights() -> None:
    pair = PairData(
        spec=PairSpec("e", "c", "d"),
        datasets=["d"] * 2,
        prompt_ids=["1", "2"],
        prompts=["p", "q"],
        metrics=["alignment", "quality"],
        q_edge=np.array([[0.0, 1.0], [1.0, 0.0]]),
        q_cloud=np.array([[1.0, 1.0], [1.0, 1.0]]),
    )
    views = quality_views(pair, {"alignment": 3.0, "quality": 1.0})
    assert [(v.name, v.weights) for v in views] == [
        (AGGREGATE, pytest.approx({"alignment": 0.75, "quality": 0.25})),
        ("alignment", {"alignment": 1.0}),
        ("quality", {"quality": 1.0}),
    ]
    assert views[0].subset(np.array([1])).weights == views[0].weights
