"""The learner: collects shadow pairs, refits on a schedule, and promotes a candidate only when
:mod:`routet2i.learning.promotion` says it is better. ``routet2i replay`` runs this same code.

It works on arrays the caller computed: per pair the base router's prior score (see
:func:`routet2i.learning.correction.prior_scores`), the prompt's sentence embedding, and the two
tiers' normalised quality. Every fit is made *on top of the base router*, never on top of an
earlier fit, so the prior is never lost and fits do not compound one another's noise.

The decision at a retrain: the candidate is fitted ``folds`` times (k-fold over all pairs seen)
to score each pair out-of-fold, and compared with the live router on the pairs the live router did
not train on (all of them while the base router is live). Promoted, the candidate is refitted on
every pair and becomes live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from routet2i.learning.correction import fit
from routet2i.learning.promotion import Decision, PromotionRule, decide
from routet2i.predictor.correction import Correction, CorrectionKind
from routet2i.superiority import FloatArray


class LearnerPolicy(BaseModel):
    """When the learner retrains, what it fits, and how it decides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: retrain after this many new shadow pairs.
    retrain_every: int = Field(default=50, ge=1)
    fit: CorrectionKind = "blend"
    #: folds of the out-of-fold scores the promotion decision compares.
    folds: int = Field(default=5, ge=2)
    rule: PromotionRule = PromotionRule()
    seed: int = 0


@dataclass(frozen=True)
class Retrain:
    """What one retrain did."""

    n_pairs: int
    decision: Decision
    fit: dict[str, float | int | str]


@dataclass
class Learner:
    """The state of the learning loop (see the module). ``live`` is None while the base router is live."""

    policy: LearnerPolicy
    prior: list[float] = field(default_factory=list)
    x: list[FloatArray] = field(default_factory=list)
    q_edge: list[float] = field(default_factory=list)
    q_cloud: list[float] = field(default_factory=list)
    live: Correction | None = None
    #: how many of the pairs (the first ones) the live router trained on.
    live_trained_on: int = 0
    last_retrain_at: int = 0
    history: list[Retrain] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prior)

    def add(self, prior: FloatArray, x: FloatArray, q_edge: FloatArray, q_cloud: FloatArray) -> None:
        """Append shadow pairs: prior scores (n,), embeddings (n, d), quality of each tier (n,)."""
        p = np.asarray(prior, np.float64).reshape(-1)
        xs = np.asarray(x, np.float64).reshape(p.shape[0], -1)
        qe, qc = np.asarray(q_edge, np.float64).reshape(-1), np.asarray(q_cloud, np.float64).reshape(-1)
        if not (qe.shape == qc.shape == p.shape):
            raise ValueError(f"{p.shape[0]} prior scores, {qe.shape[0]} / {qc.shape[0]} quality values")
        if np.isnan(qe).any() or np.isnan(qc).any() or np.isnan(p).any():
            raise ValueError("a shadow pair has NaN quality or prior score")
        self.prior.extend(p.tolist())
        self.x.extend(xs)
        self.q_edge.extend(qe.tolist())
        self.q_cloud.extend(qc.tolist())

    def due(self) -> bool:
        """Whether ``retrain_every`` new pairs have come since the last retrain."""
        return len(self) - self.last_retrain_at >= self.policy.retrain_every

    def scores(self, prior: FloatArray, x: FloatArray) -> FloatArray:
        """Cloud scores of the live router (the base router's standardised prior while none is promoted)."""
        if self.live is None:
            return np.asarray(prior, np.float64)
        return self.live.scores(prior, x)

    def retrain(self) -> Retrain:
        """Fit a candidate on every pair so far and promote it if it is better (see the module)."""
        n = len(self)
        self.last_retrain_at = n
        p, xs = np.asarray(self.prior), np.stack(self.x)
        qe, qc = np.asarray(self.q_edge), np.asarray(self.q_cloud)
        oof = self._out_of_fold(p, xs, qc - qe, seed=self.policy.seed + n)
        held = np.arange(self.live_trained_on, n)
        decision = decide(
            self.policy.rule,
            self.scores(p[held], xs[held]),
            oof[held],
            qe[held],
            qc[held],
            seed=self.policy.seed + n,
        )
        candidate = fit(self.policy.fit, p, xs, qc - qe)
        if decision.promote:
            self.live, self.live_trained_on = candidate, n
        step = Retrain(n, decision, candidate.describe())
        self.history.append(step)
        return step

    def _out_of_fold(self, p: FloatArray, xs: FloatArray, gain: FloatArray, *, seed: int) -> FloatArray:
        n = p.shape[0]
        folds = min(self.policy.folds, n)
        assignment = np.random.default_rng(seed).permutation(n) % folds
        out = np.empty(n)
        for k in range(folds):
            test, train = assignment == k, assignment != k
            out[test] = fit(self.policy.fit, p[train], xs[train], gain[train]).scores(p[test], xs[test])
        return out
