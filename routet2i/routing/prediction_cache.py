"""An LRU cache of the live router's predictions, by normalised prompt.

Real traffic repeats prompts (retries, the same template, a popular request), and a router's
prediction is a deterministic function of the prompt's text, so a repeated prompt needs no encoder
pass. The key is the prompt with its whitespace runs collapsed and its ends stripped
(:func:`normalised`): every encoder and prompt cue of the router splits on whitespace first, so
those variants get the same PRŜ. The cache belongs to one router: the dispatcher clears it when a
reload makes another checkpoint live, and never stores what a replaced router predicted.
"""

from __future__ import annotations

from collections import OrderedDict

from routet2i.types import Prediction


def normalised(prompt: str) -> str:
    """The cache key of ``prompt``: whitespace runs collapsed to one space, ends stripped."""
    return " ".join(prompt.split())


class PredictionCache:
    """At most ``size`` predictions, least recently used evicted first (``size`` 0: off)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"cache size must be ≥ 0, got {size}")
        self.size = size
        self._entries: OrderedDict[str, Prediction] = OrderedDict()
        #: Lookups that found / did not find a prediction, since start.
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, prompt: str) -> Prediction | None:
        """The cached prediction of ``prompt`` (counted as a hit), else None (a miss)."""
        if self.size == 0:
            return None
        key = normalised(prompt)
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, prompt: str, prediction: Prediction) -> None:
        if self.size == 0:
            return
        key = normalised(prompt)
        self._entries[key] = prediction
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every prediction (another router is live); the counters stay."""
        self._entries.clear()

    @property
    def hit_rate(self) -> float:
        """Hits over lookups since start (0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
