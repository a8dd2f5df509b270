"""Fitting the deployment's own pair without throwing away the live router (the *prior*).

Each fit is a :class:`~routet2i.predictor.correction.Correction` (the module there gives the
formulas; a checkpoint carries it, so a promoted fit is served as it was measured). It is trained
on shadow pairs: for each, the prompt's sentence embedding ``x`` (d,), the base router's prior
cloud score ``p = logit(1 - PRŜ)``, and the per-prompt cloud gain ``y = q_cloud - q_edge`` (the two
tiers' normalised quality). The kinds, measured against each other by ``routet2i replay``
(docs/LEARNING.md):

- ``prior``: the base router as it is (a control: never learns);
- ``correction``: ``a ≥ 0`` and ``b`` by least squares of ``y`` on ``z(p)``, then a ridge ``r`` on
  the embedding fits what the prior leaves, its strength chosen by exact leave-one-out error: with
  few pairs ``r`` shrinks to about 0 and the ranking is the prior's, so the prior is kept until the
  evidence says otherwise;
- ``scratch``: ridge on the embedding alone (what training on the pair from nothing gives);
- ``blend``: ``(1 - w)·z(p) + w·z(r)`` with ``w = n / (n + n0)``, a weight that grows with the
  number of pairs ``n``.
"""

from __future__ import annotations

import numpy as np

from routet2i.evaluation.heads import RidgeHead
from routet2i.predictor.correction import CORRECTION_KINDS, Correction, CorrectionKind, Linear, Scale
from routet2i.superiority import FloatArray

#: the blend's pseudo-count: at ``n0`` pairs the scratch fit and the prior weigh the same.
BLEND_N0 = 200.0


def _linear(head: RidgeHead) -> Linear:
    return Linear(head.coef.copy(), float(head.intercept), head.scaler.mean.copy(), head.scaler.std.copy())


def fit(kind: CorrectionKind, prior: FloatArray, x: FloatArray, gain: FloatArray) -> Correction:
    """Fit ``kind`` on shadow pairs: prior scores (n,), embeddings (n, d), cloud gains (n,)."""
    p = np.asarray(prior, dtype=np.float64).reshape(-1)
    xs = np.asarray(x, dtype=np.float64)
    y = np.asarray(gain, dtype=np.float64).reshape(-1)
    if not (p.shape[0] == xs.shape[0] == y.shape[0]):
        raise ValueError(f"{p.shape[0]} prior scores, {xs.shape[0]} embeddings, {y.shape[0]} gains")
    if kind not in CORRECTION_KINDS:
        raise ValueError(f"unknown fit {kind!r}; choose one of {', '.join(CORRECTION_KINDS)}")
    n = p.shape[0]
    scale = Scale.of(p)
    if kind == "prior" or n < 3:
        return Correction(kind="prior", n_pairs=n, prior_scale=scale)
    z = scale(p)
    if kind == "correction":
        var = float(z.var())
        a = max(0.0, float(np.mean((z - z.mean()) * (y - y.mean()))) / var) if var > 0 else 0.0
        b = float(y.mean() - a * z.mean())
        ridge = RidgeHead().fit(xs, y - a * z - b)
        return Correction(kind, n, scale, prior_weight=a, intercept=b, ridge=_linear(ridge))
    ridge = RidgeHead().fit(xs, y)
    if kind == "scratch":
        return Correction(kind, n, scale, ridge=_linear(ridge))
    return Correction(
        kind,
        n,
        scale,
        ridge=_linear(ridge),
        ridge_scale=Scale.of(ridge.predict(xs)),
        blend_weight=n / (n + BLEND_N0),
    )
