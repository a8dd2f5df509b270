"""Synthetic prompts whose quality depends on keywords (for predictor, CLI and router tests).

Prompts are random filler words; ``zebra`` and ``castle`` each appear in about half of them.
In :func:`keyword_ratings` the cloud model wins metric ``alignment`` when ``zebra`` is present and
metric ``quality`` when ``castle`` is, the edge model wins otherwise: D and PRS depend only on
which keywords a prompt has.
"""

from __future__ import annotations

import random

from routet2i.ratings.table import Rating, RatingsTable

FILLER = [
    "red",
    "blue",
    "green",
    "small",
    "large",
    "old",
    "new",
    "happy",
    "quiet",
    "bright",
    "dark",
    "wooden",
    "metal",
    "glass",
    "tall",
    "short",
    "round",
    "square",
    "soft",
    "loud",
    "river",
    "forest",
    "city",
    "street",
    "garden",
    "window",
    "table",
    "chair",
    "lamp",
    "book",
]
KEYWORDS = ("zebra", "castle")
METRICS = ("alignment", "quality")
DATASET = "synthetic"
EDGE, CLOUD = "edge-model", "cloud-model"


def keyword_prompts(n: int, seed: int = 0, min_words: int = 5, max_words: int = 9) -> list[str]:
    """``n`` distinct prompts of filler words, each keyword inserted with probability 1/2."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        words = rng.choices(FILLER, k=rng.randint(min_words, max_words))
        for kw in KEYWORDS:
            if rng.random() < 0.5:
                words.insert(rng.randint(0, len(words)), kw)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def keyword_ratings(n: int, seed: int = 0) -> RatingsTable:
    """Ratings of the edge and cloud model on ``n`` keyword prompts (see the module docstring)."""
    table = RatingsTable()
    for i, prompt in enumerate(keyword_prompts(n, seed)):
        for metric, kw in zip(METRICS, KEYWORDS, strict=True):
            cloud_wins = kw in prompt.split()
            scores = {EDGE: 2.0 if cloud_wins else 4.0, CLOUD: 4.0 if cloud_wins else 3.0}
            for model, score in scores.items():
                table.rows.append(
                    Rating(
                        dataset=DATASET,
                        prompt_id=f"{i:05d}",
                        prompt=prompt,
                        model=model,
                        sample="0",
                        metric=metric,
                        score=score,
                        source="synthetic",
                    )
                )
    return table
