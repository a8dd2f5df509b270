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

The paper's encoder is fine-tuned BERT; freezing it and fitting a head is the cheap, reproducible
version (a few seconds per fold on a CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routet2i.evaluation.candidates import Candidate, TrainingData, mean_by_index
from routet2i.evaluation.embeddings import EmbeddingCache
from routet2i.evaluation.heads import LogisticHead, RidgeHead, SoftTargetMLP
from routet2i.ratings.pairs import PairData
from routet2i.superiority import FloatArray


@dataclass
class EmbeddingCandidate(Candidate):
    """A learned candidate on frozen sentence embeddings (shared cache across candidates)."""

    cache: EmbeddingCache = field(default_factory=EmbeddingCache)
    learns: bool = True
    _record: dict[str, object] = field(default_factory=dict)

    def _training_rows(self, train: TrainingData) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per distinct prompt: embeddings, mean edge quality, mean cloud quality (complete rows)."""
        prompts, index = train.by_prompt()
        qe, qc = train.tier_quality()
        q = mean_by_index(np.stack([qe, qc], axis=1), index, len(prompts))
        ok = ~np.isnan(q).any(axis=1)
        x = self.cache.get([p for p, keep in zip(prompts, ok, strict=True) if keep])
        return x, q[ok, 0], q[ok, 1]

    def training_record(self) -> dict[str, object]:
        return dict(self._record)


@dataclass
class RouteLLMCandidate(EmbeddingCandidate):
    name: str = "routellm"
    description: str = "RouteLLM-style classifier of 'the cloud wins' (logistic head on MiniLM embeddings)"
    _head: LogisticHead | None = None

    def fit(self, train: TrainingData) -> None:
        # per prompt the share of its training rows where the cloud won (soft with pooled pairs)
        prompts, index = train.by_prompt()
        qe, qc = train.tier_quality()
        win = np.where(np.isnan(qe) | np.isnan(qc), np.nan, (qc > qe).astype(np.float64))
        label = mean_by_index(win, index, len(prompts))
        ok = ~np.isnan(label)
        x = self.cache.get([p for p, keep in zip(prompts, ok, strict=True) if keep])
        label = label[ok]
        self._head = LogisticHead(seed=train.seed).fit(x, label)
        self._record = {"lambda": self._head.lam, "rows": len(label), "cloud_win_rate": float(label.mean())}

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict_proba(self.cache.get(test.prompts))


@dataclass
class HybridLLMCandidate(EmbeddingCandidate):
    name: str = "hybridllm"
    description: str = "Hybrid-LLM-style regressor of the quality gap (ridge head on MiniLM embeddings)"
    _head: RidgeHead | None = None

    def fit(self, train: TrainingData) -> None:
        x, qe, qc = self._training_rows(train)
        self._head = RidgeHead().fit(x, qc - qe)
        self._record = {"alpha": self._head.alpha, "rows": len(qe)}

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict(self.cache.get(test.prompts))


@dataclass
class ZooterCandidate(EmbeddingCandidate):
    name: str = "zooter"
    description: str = "ZOOTER-style distillation of each tier's normalised quality (MLP on MiniLM embeddings)"
    _head: SoftTargetMLP | None = None

    def fit(self, train: TrainingData) -> None:
        x, qe, qc = self._training_rows(train)
        gap_sd = float(np.std(qc - qe)) or 1.0
        beta = 1.0 / gap_sd
        logits = beta * np.stack([qe, qc], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        targets = np.exp(logits)
        targets /= targets.sum(axis=1, keepdims=True)
        self._head = SoftTargetMLP(seed=train.seed).fit(x, targets)
        self._record = {"beta": beta, "rows": len(qe)}

    def score(self, test: PairData) -> FloatArray:
        assert self._head is not None, "fit first"
        return self._head.predict_proba(self.cache.get(test.prompts))[:, 1]
