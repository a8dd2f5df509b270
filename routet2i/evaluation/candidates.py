"""The routers an evaluation compares ("candidates") and what a learning one is trained on.

A candidate gives each test prompt a *cloud score*: higher → sent to the cloud first (for a
PRS router, 1 - PRŜ). A candidate that learns from ratings (``learns = True``) is fitted once per
split of the protocol on :class:`TrainingData` that never contains the split's test prompts; the
harness enforces that, the candidate cannot see the test ratings. ``fixed_share`` marks the
all-edge / all-cloud references, which are a point rather than a curve.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from routet2i.evaluation.views import QualityView, aggregate_view
from routet2i.prompt_ids import prompt_key
from routet2i.ratings.pairs import PairData
from routet2i.ratings.table import RatingsTable
from routet2i.superiority import FloatArray


@dataclass
class TrainingData:
    """The training rows of one split: one :class:`PairData` per training pair (normalised
    quality, test prompts already removed), the metric weights, a seed, and the split's name
    (``<evaluated pair>-<protocol>-<split>``)."""

    pairs: list[PairData]
    weights: Mapping[str, float] | None = None
    seed: int = 0
    split: str = ""

    def __len__(self) -> int:
        return sum(len(p) for p in self.pairs)

    def prompts(self) -> list[str]:
        return [t for p in self.pairs for t in p.prompts]

    def tier_quality(self) -> tuple[FloatArray, FloatArray]:
        """Aggregate edge and cloud quality per row (each pair over its own metrics)."""
        views = [aggregate_view(p, self.weights) for p in self.pairs]
        return np.concatenate([v.q_edge for v in views]), np.concatenate([v.q_cloud for v in views])

    def gain(self) -> FloatArray:
        qe, qc = self.tier_quality()
        return qc - qe

    def by_prompt(self) -> tuple[list[str], np.ndarray]:
        """Distinct prompts (first spelling of each :func:`prompt_key`) and, per row, the index of
        its prompt. Pooled pairs repeat prompts; heads average targets over repeats so that
        leave-one-out and k-fold model selection do not see a prompt on both sides."""
        keys: dict[str, int] = {}
        prompts: list[str] = []
        index = []
        for text in self.prompts():
            k = prompt_key(text)
            if k not in keys:
                keys[k] = len(prompts)
                prompts.append(text)
            index.append(keys[k])
        return prompts, np.asarray(index, dtype=np.int64)


def mean_by_index(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Average rows of ``values`` (R,) or (R, K) that share ``index`` (R,) into (n,) or (n, K),
    ignoring NaN rows."""
    v = values.reshape(len(index), -1)
    ok = ~np.isnan(v).any(axis=1)
    total = np.zeros((n, v.shape[1]))
    count = np.zeros(n)
    np.add.at(total, index[ok], v[ok])
    np.add.at(count, index[ok], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count[:, None]
    return out.reshape(n) if values.ndim == 1 else out


@dataclass
class Candidate(ABC):
    """A router under evaluation (see the module docstring)."""

    name: str
    description: str = ""
    learns: bool = False
    fixed_share: float | None = None
    #: the pairs this candidate trains on, replacing the run's pool (e.g. a checkpoint's own pairs);
    #: the harness still removes each split's test prompts (and held-out dataset) from them.
    train_pairs: list[str] | None = None
    #: notes the report must show (a leak, a fallback, …), filled while evaluating.
    warnings: list[str] = field(default_factory=list)

    def prepare(self, table: RatingsTable, test: PairData) -> None:  # noqa: B027 - optional hook
        """Check, before any scoring, that this candidate may be evaluated on ``test`` (called once
        per evaluated pair and protocol with the whole ratings table)."""

    def fit(self, train: TrainingData) -> None:  # noqa: B027 - optional for non-learning candidates
        """Train on ``train`` (called once per split, before :meth:`score`, when ``learns``)."""

    @abstractmethod
    def score(self, test: PairData) -> FloatArray:
        """Cloud scores (P,) for the prompts of ``test`` (its quality must not be used, except by
        the oracle)."""

    def score_views(self, test: PairData, views: list[QualityView]) -> dict[str, FloatArray]:
        """Cloud scores per quality view (the same ranking for every view, except the oracle's)."""
        s = self.score(test)
        return {v.name: s for v in views}

    def training_record(self) -> dict[str, object]:
        """What the last :meth:`fit` chose (hyper-parameters), for the report."""
        return {}
