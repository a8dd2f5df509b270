"""Replay: the learner on a stream (routet2i/learning/replay.py, learner.py)."""

from __future__ import annotations

import numpy as np
import pytest

from routet2i.learning.learner import Learner, LearnerPolicy
from routet2i.learning.replay import replay_once, summarise
from routet2i.predictor.correction import CorrectionKind
from tests.learning.synthetic import keyword_stream, noise_stream


def test_the_learner_finds_a_keyword_the_start_ignores() -> None:
    prior, x, qe, qc = keyword_stream(800, seed=0)
    runs = [
        replay_once(prior, x, qe, qc, shadow_rate=0.25, policy=LearnerPolicy(retrain_every=40), seed=s)
        for s in range(3)
    ]
    head = summarise(runs)
    assert head["apgr_start"] == pytest.approx(0.5, abs=0.08)  # type: ignore[arg-type]
    assert head["apgr_final"] > head["apgr_start"] + 0.15  # type: ignore[operator]
    for r in runs:
        assert r.promotions >= 1 and r.shadow_pairs_to_first_promotion is not None
        assert r.n_shadow == pytest.approx(200, abs=40)
        assert r.curve[0].reason == "start" and r.curve[0].n_shadow == 0
        # the curve is measured on the traffic not yet seen, after every retrain
        assert [c.n_shadow for c in r.curve[1:]] == list(range(40, r.n_shadow + 1, 40))
        promoted = [c for c in r.curve if c.promoted]
        assert promoted[-1].apgr_unseen is not None and promoted[-1].apgr_unseen > r.curve[0].apgr_unseen + 0.1  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["correction", "scratch"])
def test_on_noise_nothing_is_promoted_and_nothing_gets_worse(kind: CorrectionKind) -> None:
    promotions = decisions = 0
    for seed in range(12):
        prior, x, qe, qc = noise_stream(400, seed=seed)
        run = replay_once(
            prior, x, qe, qc, shadow_rate=0.5, policy=LearnerPolicy(retrain_every=50, fit=kind), seed=seed
        )
        promotions += run.promotions
        decisions += len(run.curve) - 1
        if run.promotions == 0:
            assert run.apgr_final == run.apgr_start  # the base router stayed live
    assert decisions >= 40 and promotions / decisions <= 0.1


def test_a_stream_replays_the_same_under_the_same_seed() -> None:
    prior, x, qe, qc = keyword_stream(300, seed=5)
    a = replay_once(prior, x, qe, qc, shadow_rate=0.3, policy=LearnerPolicy(retrain_every=30), seed=7)
    b = replay_once(prior, x, qe, qc, shadow_rate=0.3, policy=LearnerPolicy(retrain_every=30), seed=7)
    c = replay_once(prior, x, qe, qc, shadow_rate=0.3, policy=LearnerPolicy(retrain_every=30), seed=8)
    assert a == b and a != c


def test_the_live_router_is_not_compared_on_pairs_it_trained_on() -> None:
    prior, x, qe, qc = keyword_stream(400, seed=9)
    learner = Learner(LearnerPolicy(retrain_every=100))
    learner.add(prior[:200], x[:200], qe[:200], qc[:200])
    first = learner.retrain()
    assert first.decision.promote and first.decision.n_pairs == 200 and learner.live_trained_on == 200
    learner.add(prior[200:260], x[200:260], qe[200:260], qc[200:260])
    assert not learner.due()
    second = learner.retrain()
    assert second.decision.n_pairs == 60  # only the pairs that came after the promotion


def test_bad_pairs_are_refused() -> None:
    learner = Learner(LearnerPolicy())
    with pytest.raises(ValueError, match="NaN"):
        learner.add(np.zeros(2), np.zeros((2, 3)), np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match="shadow_rate"):
        replay_once(
            np.zeros(3), np.zeros((3, 2)), np.zeros(3), np.zeros(3), shadow_rate=0.0, policy=LearnerPolicy(), seed=0
        )
