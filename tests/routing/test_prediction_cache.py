"""The LRU cache of predictions: keys, eviction, counters."""

from __future__ import annotations

import pytest

from routet2i.routing.prediction_cache import PredictionCache, normalised
from routet2i.types import Prediction


def test_keys_collapse_whitespace_only() -> None:
    assert normalised("  a \t red\n fox ") == "a red fox"
    assert normalised("A red fox") != normalised("a red fox")  # case may change a cased encoder's PRŜ


def test_least_recently_used_is_evicted_and_counted() -> None:
    cache = PredictionCache(2)
    for i, prompt in enumerate(["a", "b"]):
        cache.put(prompt, Prediction(i / 10, {}))
    assert cache.get("a") == Prediction(0.0, {})  # "a" is now the most recent
    cache.put("c", Prediction(0.2, {}))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)
    assert cache.hit_rate == pytest.approx(0.75)
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None and cache.hits == 3


def test_size_zero_stores_nothing_and_negative_is_refused() -> None:
    cache = PredictionCache(0)
    cache.put("a", Prediction(0.1, {}))
    assert cache.get("a") is None and len(cache) == 0 and cache.misses == 0
    with pytest.raises(ValueError, match="≥ 0"):
        PredictionCache(-1)
