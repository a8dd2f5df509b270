"""The routing rule (DESIGN §1), written once: a prompt goes to the expensive tier iff PRŜ < α.

PRŜ is the predicted Pareto relative superiority of the cheap tier over the expensive one (> 0.5:
the cheap tier is predicted better); α ≤ :data:`~routet2i.types.MAX_THRESHOLD` is the threshold
that keeps the expensive tier's share within the budget. Every place that turns a PRŜ into a tier
(the budget controller, ``routet2i route``, calibration's cloud shares) calls this function.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from routet2i.routing.tiers import Tiers
from routet2i.types import Reason, TierName

P = TypeVar("P", float, np.ndarray)


def wants_expensive(prs: P, threshold: float) -> P:
    """Whether PRŜ ``prs`` (a float, or an array elementwise) sends a prompt to the expensive
    tier at threshold α: PRŜ < α (strictly: a PRŜ equal to α stays on the cheap tier)."""
    return prs < threshold


def choose_tier(prs: float | None, threshold: float, tiers: Tiers) -> tuple[TierName, Reason]:
    """The tier the predictor wants for one prompt and why: the expensive tier iff PRŜ < α
    (``predicted``); without a PRŜ (None or NaN) the cheap tier, the safe default (``no_prediction``)."""
    if prs is None or math.isnan(prs):
        return tiers.cheap, "no_prediction"
    return (tiers.expensive if wants_expensive(prs, threshold) else tiers.cheap), "predicted"
