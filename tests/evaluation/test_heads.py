"""The small heads learn what they are meant to, with regularisation chosen on training rows."""

from __future__ import annotations

import numpy as np

from routet2i.evaluation.heads import LogisticHead, RidgeHead, SoftTargetMLP


def test_ridge_recovers_a_linear_signal_and_shrinks_noise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10))
    y = 2.0 * x[:, 0] - x[:, 1] + rng.normal(0, 0.1, 200) + 3.0
    head = RidgeHead().fit(x, y)
    x_test = rng.normal(size=(50, 10))
    np.testing.assert_allclose(head.predict(x_test), 2.0 * x_test[:, 0] - x_test[:, 1] + 3.0, atol=0.15)
    noise = RidgeHead().fit(x, rng.normal(size=200))
    assert noise.alpha > head.alpha  # pure noise → strong shrinkage


def test_logistic_ranks_by_the_informative_feature() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = (x[:, 2] + rng.normal(0, 0.3, 300) > 0).astype(float)
    head = LogisticHead().fit(x, y)
    p = head.predict_proba(np.array([[0, 0, 2.0, 0, 0], [0, 0, -2.0, 0, 0]]))
    assert p[0] > 0.9 > 0.1 > p[1]
    const = LogisticHead().fit(x, np.ones(300))
    np.testing.assert_allclose(const.predict_proba(x[:3]), 1.0, atol=1e-5)


def test_soft_target_mlp_follows_the_targets() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4))
    p_cloud = 1.0 / (1.0 + np.exp(-3.0 * x[:, 0]))
    head = SoftTargetMLP(max_epochs=150, lr=3e-3, seed=0).fit(x, np.stack([1 - p_cloud, p_cloud], axis=1))
    pred = head.predict_proba(np.array([[2.0, 0, 0, 0], [-2.0, 0, 0, 0]]))
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-5)
    assert pred[0, 1] > 0.8 and pred[1, 1] < 0.2
