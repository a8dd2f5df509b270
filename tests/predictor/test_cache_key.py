"""The prediction cache's key (:func:`routet2i.routing.prediction_cache.normalised`) is sound for
the shipped router: prompts that differ only in whitespace get the same PRŜ, so one cached
prediction may answer all of them."""

from __future__ import annotations

import pytest

from routet2i.predictor.inference import CheckpointPredictor
from routet2i.routing.prediction_cache import normalised

VARIANTS = ["a red fox on two blue cubes, photo", "  a red fox on\ttwo  blue cubes,   photo\n"]


def test_whitespace_variants_get_the_same_prediction_from_the_shipped_router() -> None:
    assert len({normalised(v) for v in VARIANTS}) == 1
    router = CheckpointPredictor(None, device="cpu")
    [a], [b] = router.predict(VARIANTS[:1]), router.predict(VARIANTS[1:])
    assert b.prs == pytest.approx(a.prs, abs=1e-6)
    assert b.metrics == pytest.approx(a.metrics, abs=1e-6)
