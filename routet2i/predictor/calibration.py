r"""Offline calibration of the routing threshold α from PRŜ on reference prompts.

Rule (DESIGN §1): route to the cloud iff PRŜ < α, with α the largest threshold ≤ 0.5 whose cloud
share stays within the budget ρ. On P reference prompts with sorted PRŜ v_0 ≤ … ≤ v_{P−1} and
k = ⌊ρ P⌋:

    α = min(0.5, (v_{k−1} + v_k) / 2)     (k = 0: α = v_0; k = P: α = 0.5)

so exactly k prompts fall below α (fewer where PRŜ ties at the cut, or where α hit 0.5): the cloud
share equals ρ within one prompt, or is lower. The midpoint (not v_k itself) leaves the same
margin on both sides of the cut for prompts the reference set has not seen.

A :class:`Calibration` also keeps the PRŜ quantiles at levels 0, 0.01, …, 1, so that any budget
gets a threshold (:meth:`Calibration.threshold_for_budget`: linear interpolation of the quantile
function, clamped to ≤ 0.5) and an online budget controller can start from them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from routet2i.errors import CheckpointError, DataError
from routet2i.routing.rule import wants_expensive
from routet2i.types import MAX_THRESHOLD

#: Quantile levels stored with a calibration: 0, 0.01, …, 1.
QUANTILE_LEVELS: tuple[float, ...] = tuple(round(i / 100, 2) for i in range(101))


def check_budget(budget: float) -> float:
    """``budget`` as a float in [0, 1] (else :class:`DataError`)."""
    b = float(budget)
    if not (0.0 <= b <= 1.0) or math.isnan(b):
        raise DataError(f"budget must be a cloud share in [0, 1], got {budget}")
    return b


def threshold_for_share(prs: ArrayLike, budget: float) -> float:
    """α for ``budget`` on these PRŜ values (see the module docstring)."""
    b = check_budget(budget)
    v = np.sort(_finite(prs))
    k = math.floor(b * len(v) + 1e-9)
    if k >= len(v):
        return MAX_THRESHOLD
    cut = float(v[0]) if k == 0 else float((v[k - 1] + v[k]) / 2)
    return min(MAX_THRESHOLD, cut)


def cloud_share(prs: ArrayLike, threshold: float) -> float:
    """The share of PRŜ values strictly below ``threshold`` (those go to the cloud)."""
    v = _finite(prs)
    return float(np.mean(wants_expensive(v, threshold)))


def budget_key(budget: float) -> str:
    """The JSON key of a budget (``0.3`` → ``"0.3"``)."""
    return repr(round(float(budget), 6))


@dataclass
class Calibration:
    """α per calibrated budget, PRŜ quantiles, and which prompts they came from."""

    #: id of the reference prompts (``sha1:<hex>`` of the prompts file, or a split of training data).
    prompts_id: str
    n_prompts: int
    levels: list[float]
    quantiles: list[float]
    #: budget key (:func:`budget_key`) → α.
    thresholds: dict[str, float] = field(default_factory=dict)
    #: budget key → the cloud share α gives on the reference prompts.
    cloud_shares: dict[str, float] = field(default_factory=dict)
    #: free-form provenance (file name, checkpoint, time).
    source: str = ""
    #: the metric weights PRŜ was computed with (name → weight, summing to 1); None: the
    #: checkpoint's own weights (every calibration made while training).
    metric_weights: dict[str, float] | None = None

    def threshold_for_budget(self, budget: float) -> float:
        """α for ``budget``: the calibrated α where this budget was calibrated, else the PRŜ
        quantile at level ``budget`` (linear interpolation), clamped to ≤ 0.5. Budget 0 gives 0
        (PRŜ is never below 0: nothing goes to the cloud), budget 1 gives 0.5."""
        b = check_budget(budget)
        for key, alpha in self.thresholds.items():
            if abs(float(key) - b) < 1e-9:
                return float(alpha)
        if b <= 0.0:
            return 0.0
        if b >= 1.0:
            return MAX_THRESHOLD
        return min(MAX_THRESHOLD, float(np.interp(b, self.levels, self.quantiles)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompts_id": self.prompts_id,
            "n_prompts": self.n_prompts,
            "source": self.source,
            "thresholds": dict(self.thresholds),
            "cloud_shares": dict(self.cloud_shares),
            "levels": list(self.levels),
            "quantiles": list(self.quantiles),
        }
        if self.metric_weights is not None:
            out["metric_weights"] = dict(self.metric_weights)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        try:
            levels = [float(x) for x in data["levels"]]
            quantiles = [float(x) for x in data["quantiles"]]
            cal = cls(
                prompts_id=str(data["prompts_id"]),
                n_prompts=int(data["n_prompts"]),
                levels=levels,
                quantiles=quantiles,
                thresholds={str(k): float(v) for k, v in dict(data.get("thresholds") or {}).items()},
                cloud_shares={str(k): float(v) for k, v in dict(data.get("cloud_shares") or {}).items()},
                source=str(data.get("source", "")),
                metric_weights=(
                    None
                    if data.get("metric_weights") is None
                    else {str(k): float(v) for k, v in dict(data["metric_weights"]).items()}
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"calibration block is malformed: {exc!r}") from exc
        if len(levels) != len(quantiles) or len(levels) < 2 or np.any(np.diff(levels) <= 0):
            raise CheckpointError("calibration block: levels must increase and match quantiles in length")
        return cal


def calibrate(
    prs: ArrayLike,
    budgets: Iterable[float],
    prompts_id: str,
    source: str = "",
    metric_weights: dict[str, float] | None = None,
) -> Calibration:
    """Thresholds for ``budgets`` and the PRŜ quantiles on these reference PRŜ values
    (``metric_weights``: the weights PRŜ was computed with, None for the checkpoint's own)."""
    v = _finite(prs)
    thresholds: dict[str, float] = {}
    shares: dict[str, float] = {}
    for b in budgets:
        alpha = threshold_for_share(v, b)
        thresholds[budget_key(b)] = alpha
        shares[budget_key(b)] = cloud_share(v, alpha)
    return Calibration(
        prompts_id=prompts_id,
        n_prompts=len(v),
        levels=list(QUANTILE_LEVELS),
        quantiles=[float(q) for q in np.quantile(v, QUANTILE_LEVELS)],
        thresholds=thresholds,
        cloud_shares=shares,
        source=source,
        metric_weights=metric_weights,
    )


def file_id(path: str | Path) -> str:
    """``sha1:<hex>`` of a file's bytes: the id of a prompts file."""
    h = hashlib.sha1()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha1:{h.hexdigest()}"


def prompts_id(prompts: Sequence[str]) -> str:
    """``sha1:<hex>`` of prompts joined by newlines: the id of an in-memory prompt set."""
    return "sha1:" + hashlib.sha1("\n".join(prompts).encode("utf-8")).hexdigest()


def _finite(prs: ArrayLike) -> np.ndarray:
    v = np.asarray(prs, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise DataError("calibration needs at least one finite PRŜ value")
    return v
