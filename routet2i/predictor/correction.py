r"""A checkpoint's learned correction: the deployment's own pair fitted on top of the predictor.

The learner (:mod:`routet2i.learning`) fits it on shadow pairs; a checkpoint that carries one
(``config.json`` → ``correction``) ranks prompts by a *cloud score* (higher → the expensive tier)

    s = a · z(p) + b + r(x)                       (kind ``correction``)
    s = r(x)                                      (kind ``scratch``)
    s = (1 - w) · z(p) + w · z_r(r(x))            (kind ``blend``)
    s = z(p)                                      (kind ``prior``: the predictor as it is)

where ``p = logit(1 - PRŜ)`` is the predictor's own cloud score, ``z`` standardises it with the
fitted pairs' mean and sd, ``x`` is the prompt's sentence embedding (the encoder's token states
mean-pooled over real tokens and L2-normalised, as :func:`routet2i.evaluation.embeddings.embed`)
and ``r(x) = ((x - μ) / σ) · c + c0`` is a ridge regression of the per-prompt cloud gain. The
served PRŜ is ``sigmoid(-s)``: in (0, 1), below 0.5 where the expensive tier is predicted better,
so the routing rule and calibration apply unchanged (the D̂ per metric stay the predictor's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from routet2i.errors import CheckpointError
from routet2i.superiority import FloatArray

CorrectionKind = Literal["prior", "correction", "scratch", "blend"]
CORRECTION_KINDS: tuple[CorrectionKind, ...] = ("prior", "correction", "scratch", "blend")

#: PRŜ is clipped into [ε, 1 - ε] before the logit.
_EPS = 1e-6


def prior_scores(prs: FloatArray) -> FloatArray:
    """The cloud score of a PRS router: ``logit(1 - PRŜ)`` (monotone in ``1 - PRŜ``, unbounded)."""
    q = np.clip(1.0 - np.asarray(prs, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


@dataclass(frozen=True)
class Scale:
    """v → (v - mean) / std."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def of(cls, v: FloatArray) -> Scale:
        sd = float(np.std(v)) if len(v) else 0.0
        return cls(float(np.mean(v)) if len(v) else 0.0, sd if sd > 1e-12 else 1.0)

    def __call__(self, v: FloatArray) -> FloatArray:
        return (np.asarray(v, dtype=np.float64) - self.mean) / self.std


@dataclass(frozen=True)
class Linear:
    """``r(x) = ((x - mean) / std) · coef + intercept`` on embeddings (P, d)."""

    coef: FloatArray
    intercept: float
    mean: FloatArray
    std: FloatArray

    def __call__(self, x: FloatArray) -> FloatArray:
        xs = np.asarray(x, dtype=np.float64)
        return np.asarray(((xs - self.mean) / self.std) @ self.coef + self.intercept, dtype=np.float64)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[0])


@dataclass(frozen=True)
class Correction:
    """A fitted cloud-score function of (PRŜ's prior score, embedding); see the module."""

    kind: CorrectionKind
    n_pairs: int = 0
    prior_scale: Scale = field(default_factory=Scale)
    prior_weight: float = 1.0
    intercept: float = 0.0
    ridge: Linear | None = None
    ridge_scale: Scale = field(default_factory=Scale)
    blend_weight: float = 0.0

    def scores(self, prior: FloatArray, x: FloatArray) -> FloatArray:
        """Cloud scores (P,) of prompts with prior scores ``prior`` (P,) and embeddings ``x`` (P, d)."""
        z = self.prior_scale(prior)
        if self.kind == "prior" or self.ridge is None:
            return z
        r = self.ridge(x)
        if self.kind == "correction":
            return self.prior_weight * z + self.intercept + r
        if self.kind == "scratch":
            return r
        return (1.0 - self.blend_weight) * z + self.blend_weight * self.ridge_scale(r)

    def corrected_prs(self, prs: FloatArray, x: FloatArray) -> FloatArray:
        """The served PRŜ, ``sigmoid(-s)``, of prompts with the predictor's PRŜ ``prs`` and embeddings ``x``."""
        s = self.scores(prior_scores(prs), x)
        return np.asarray(1.0 / (1.0 + np.exp(s)), dtype=np.float64)

    def describe(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = {"kind": self.kind, "n_pairs": self.n_pairs}
        if self.kind == "correction":
            out["prior_weight"] = round(self.prior_weight, 6)
        if self.kind == "blend":
            out["blend_weight"] = round(self.blend_weight, 6)
        return out

    def to_dict(self) -> dict[str, Any]:
        ridge = None
        if self.ridge is not None:
            ridge = {
                "coef": self.ridge.coef.tolist(),
                "intercept": self.ridge.intercept,
                "mean": self.ridge.mean.tolist(),
                "std": self.ridge.std.tolist(),
            }
        return {
            "kind": self.kind,
            "n_pairs": self.n_pairs,
            "prior_scale": [self.prior_scale.mean, self.prior_scale.std],
            "prior_weight": self.prior_weight,
            "intercept": self.intercept,
            "ridge": ridge,
            "ridge_scale": [self.ridge_scale.mean, self.ridge_scale.std],
            "blend_weight": self.blend_weight,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, dim: int, source: str = "correction") -> Correction:
        """Read and check a ``correction`` block for an encoder of width ``dim``."""
        try:
            kind = data["kind"]
            if kind not in CORRECTION_KINDS:
                raise CheckpointError(f"{source}: unknown kind {kind!r}")
            ridge = None
            if data.get("ridge") is not None:
                r = data["ridge"]
                ridge = Linear(
                    np.asarray(r["coef"], np.float64),
                    float(r["intercept"]),
                    np.asarray(r["mean"], np.float64),
                    np.asarray(r["std"], np.float64),
                )
                if not (ridge.coef.shape == ridge.mean.shape == ridge.std.shape == (dim,)):
                    raise CheckpointError(f"{source}: the ridge is for width {ridge.dim}, the encoder gives {dim}")
            if kind != "prior" and ridge is None:
                raise CheckpointError(f"{source}: kind {kind!r} needs a ridge")
            return cls(
                kind=kind,
                n_pairs=int(data.get("n_pairs", 0)),
                prior_scale=Scale(*map(float, data["prior_scale"])),
                prior_weight=float(data["prior_weight"]),
                intercept=float(data["intercept"]),
                ridge=ridge,
                ridge_scale=Scale(*map(float, data["ridge_scale"])),
                blend_weight=float(data["blend_weight"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: malformed ({exc!r})") from exc
