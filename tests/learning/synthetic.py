"""Synthetic shadow-pair streams for the learner's tests (numpy only)."""

from __future__ import annotations

import numpy as np

from routet2i.superiority import FloatArray


def keyword_stream(n: int, seed: int, d: int = 12) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Prompts whose cloud gain depends on a "keyword" (embedding feature 0 > 0.5) that the
    prior ignores: (prior, x, q_edge, q_cloud)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    keyword = x[:, 0] > 0.5
    q_edge = rng.normal(0.0, 0.3, size=n)
    q_cloud = q_edge + np.where(keyword, 1.2, -0.1) + rng.normal(0.0, 0.3, size=n)
    prior = rng.normal(size=n)  # the starting router knows nothing of the keyword
    return prior, x, q_edge, q_cloud


def noise_stream(n: int, seed: int, d: int = 12) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Pure noise: the gain (positive on average) depends on nothing the learner sees."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    q_edge = rng.normal(0.0, 1.0, size=n)
    q_cloud = rng.normal(0.3, 1.0, size=n)
    return rng.normal(size=n), x, q_edge, q_cloud
