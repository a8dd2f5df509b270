"""Baselines that learn nothing: random, all-edge, all-cloud, prompt length, complexity, oracle.

- ``random``: every prompt the same score, so the curve is the exact expectation of routing a
  random share (:mod:`routet2i.evaluation.curves` takes ties in expectation): PGR(c) = c.
- ``all-edge`` / ``all-cloud``: the two end points (cloud share 0 and 1).
- ``length``: the number of words; longer prompts go to the cloud first.
- ``complexity``: :func:`routet2i.predictor.cues.complexity_score` (objects, counts,
  attributes, spatial relations, text to render).
- ``oracle``: the true quality gain of the view being drawn (it reads the test ratings): the
  ceiling no router reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routet2i.evaluation.candidates import Candidate
from routet2i.evaluation.views import QualityView
from routet2i.predictor.cues import complexity_score, features
from routet2i.ratings.pairs import PairData
from routet2i.superiority import FloatArray


@dataclass
class RandomCandidate(Candidate):
    name: str = "random"
    description: str = "random routing, its exact expectation (every prompt tied)"

    def score(self, test: PairData) -> FloatArray:
        return np.zeros(len(test))


@dataclass
class FixedCandidate(Candidate):
    """All prompts to one tier: a point at cloud share ``fixed_share`` (0 or 1)."""

    name: str = "all-edge"
    description: str = "every prompt to the edge"
    fixed_share: float | None = 0.0

    def score(self, test: PairData) -> FloatArray:
        return np.zeros(len(test))


@dataclass
class LengthCandidate(Candidate):
    name: str = "length"
    description: str = "prompt length in words (longer → cloud first)"

    def score(self, test: PairData) -> FloatArray:
        return np.asarray([features(p)["words"] for p in test.prompts], dtype=np.float64)


@dataclass
class ComplexityCandidate(Candidate):
    name: str = "complexity"
    description: str = "compositional-complexity heuristic (nouns, counts, attributes, spatial, text)"

    def score(self, test: PairData) -> FloatArray:
        return np.asarray([complexity_score(p) for p in test.prompts], dtype=np.float64)


@dataclass
class OracleCandidate(Candidate):
    name: str = "oracle"
    description: str = "the true quality gain of each view (reads the test ratings; the ceiling)"

    def score(self, test: PairData) -> FloatArray:
        raise NotImplementedError("the oracle scores per view (score_views)")

    def score_views(self, test: PairData, views: list[QualityView]) -> dict[str, FloatArray]:
        return {v.name: np.nan_to_num(v.gain(), nan=0.0) for v in views}


def all_edge() -> FixedCandidate:
    return FixedCandidate(name="all-edge", description="every prompt to the edge", fixed_share=0.0)


def all_cloud() -> FixedCandidate:
    return FixedCandidate(name="all-cloud", description="every prompt to the cloud", fixed_share=1.0)
