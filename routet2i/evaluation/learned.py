r"""The paper's learned baselines, adapted to T2I as RouteT2I did, on frozen sentence embeddings.

All three see the prompt only through a frozen encoder's mean-pooled sentence embedding
(:mod:`routet2i.evaluation.embeddings`, all-MiniLM-L6-v2 by default) and train a small head per
split (:mod:`routet2i.evaluation.heads`) on the split's training rows. The target is built from
the *aggregate* quality (weighted mean of the normalised metrics) of each training row; rows that
repeat a prompt (pooled pairs) are averaged per prompt first.

- ``routellm`` (RouteLLM's BERT classifier): P(the cloud wins), a logistic head on the label
  "cloud quality > edge quality" (ties: the edge suffices, label 0). Cloud score: P(win).
- ``hybridllm`` (Hybrid LLM's router): a ridge regressor of the quality gap q_cloud - q_edge.
  Cloud score: the predicted gap.
- ``zooter`` (ZOOTER's reward distillation): an MLP whose softmax over the two tiers distils the
  normalised rewards softmax(beta · [q_edge, q_cloud]), beta = 1 / std(gap) on the training rows.
  Cloud score: the predicted cloud probability.

The originals fine-tune their encoder; freezing it and fitting a head is the cheap, reproducible
version (a few seconds per fold on a CPU). :mod:`routet2i.evaluation.finetuned` trains the same
targets (:func:`cloud_wins`, :func:`quality_gap`, :func:`tier_rewards`) through the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routet2i.evaluation.candidates import Candidate, TrainingData, mean_by_index
from routet2i.evaluation.embeddings import EmbeddingCache
from routet2i.evaluation.heads import LogisticHead, RidgeHead, SoftTargetMLP
from routet2i.ratings.pairs import PairData
from routet2i.superiority import FloatArray


@dataclass(frozen=True)
class BaselineTarget:
    """What a learned baseline fits, one row per distinct training prompt (pooled pairs that
    repeat a prompt are averaged first; prompts with no complete row are dropped)."""

    prompts: list[str]
    #: (n,) or (n, 2): the label, the gap, or the two tiers' soft rewards
    values: FloatArray
    record: dict[str, object]


def _per_prompt(train: TrainingData, values: FloatArray) -> tuple[list[str], FloatArray]:
    prompts, index = train.by_prompt()
    v = mean_by_index(values, index, len(prompts))
    ok = ~np.isnan(v.reshape(len(prompts), -1)).any(axis=1)
    return [p for p, keep in zip(prompts, ok, strict=True) if keep], v[ok]


def cloud_wins(train: TrainingData) -> BaselineTarget:
    """RouteLLM's label: 1 where the cloud's quality is higher (ties: the edge suffices, 0); per
    prompt the share of its rows the cloud won (soft when pairs are pooled)."""
    qe, qc = train.tier_quality()
    win = np.where(np.isnan(qe) | np.isnan(qc), np.nan, (qc > qe).astype(np.float64))
    prompts, label = _per_prompt(train, win)
    return BaselineTarget(prompts, label, {"rows": len(label), "cloud_win_rate": float(label.mean())})


def quality_gap(train: TrainingData) -> BaselineTarget:
    """Hybrid LLM's target: the quality gap q_cloud - q_edge (normalised quality units)."""
    qe, qc = train.tier_quality()
    prompts, q = _per_prompt(train, np.stack([qe, qc], axis=1))
    return BaselineTarget(prompts, q[:, 1] - q[:, 0], {"rows": len(prompts)})


def tier_rewards(train: TrainingData) -> BaselineTarget:
    """ZOOTER's target: softmax(beta · [q_edge, q_cloud]) per prompt, beta = 1 / std(gap) on the
    training rows, so the targets are neither all one-hot nor all uniform whatever the scale."""
    qe, qc = train.tier_quality()
    prompts, q = _per_prompt(train, np.stack([qe, qc], axis=1))
    beta = 1.0 / (float(np.std(q[:, 1] - q[:, 0])) or 1.0)
    logits = beta * q
    logits -= logits.max(axis=1, keepdims=True)
    targets = np.exp(logits)
    targets /= targets.sum(axis=1, keepdims=True)
    return BaselineTarget(prompts, targets, {"beta": beta, "rows": len(prompts)})


@dataclass
class EmbeddingCandidate(Candidate):
    """A learned candidate on frozen sentence embeddings (shared cache across candidates)."""

    cache: EmbeddingCache = field(default_factory=EmbeddingCache)
    learns: bool = True
    _record: dict[str, object] = field(default_factory=dict)

    def training_record(self) -> dict[str, object]:
        return dict(self._record)


@dataclass
class RouteLLMCandidate(EmbeddingCandidate):
    name: str = "routellm"
    description: str = "RouteLLM-style classifier of 'the cloud wins' (logistic head on MiniLM embeddings)"
    _head: LogisticHead | None = None

    def fit(self, train: TrainingData) -> None:
        target = cloud_wins(train)
        self._head = LogisticHead(seed=train.seed).fit(self.cache.get(target.prompts), target.values)
        self._record = {"lambda": self._head.lam, **target.record}

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict_proba(self.cache.get(test.prompts))


@dataclass
class HybridLLMCandidate(EmbeddingCandidate):
    name: str = "hybridllm"
    description: str = "Hybrid-LLM-style regressor of the quality gap (ridge head on MiniLM embeddings)"
    _head: RidgeHead | None = None

    def fit(self, train: TrainingData) -> None:
        target = quality_gap(train)
        self._head = RidgeHead().fit(self.cache.get(target.prompts), target.values)
        self._record = {"alpha": self._head.alpha, **target.record}

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict(self.cache.get(test.prompts))


@dataclass
class ZooterCandidate(EmbeddingCandidate):
    name: str = "zooter"
    description: str = "ZOOTER-style distillation of each tier's normalised quality (MLP on MiniLM embeddings)"
    _head: SoftTargetMLP | None = None

    def fit(self, train: TrainingData) -> None:
        target = tier_rewards(train)
        self._head = SoftTargetMLP(seed=train.seed).fit(self.cache.get(target.prompts), target.values)
        self._record = dict(target.record)

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict_proba(self.cache.get(test.prompts))[:, 1]
