"""The shared vocabulary: tier names, why a request went where it went, where α came from, what
blocked the cloud, and the prediction every router gives.

Everything here is plain data (no I/O, nothing heavy): the predictor, the routing core, the
gateway's schemas (so the OpenAPI schema shows these as enums), the pipeline and the evaluation
all import their names from this one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

#: A tier's name, as configured in the gateway's ``tiers`` (ordered from the cheapest tier to the
#: most expensive one). The two default tiers are :data:`EDGE` and :data:`CLOUD`.
TierName = str

#: The light tier of the default pair (SD-Turbo on a local GPU).
EDGE: Final = "edge"
#: The large tier of the default pair (SDXL / SD3, or a hosted images API).
CLOUD: Final = "cloud"
#: The default tiers, cheapest first.
DEFAULT_TIERS: Final[tuple[TierName, TierName]] = (EDGE, CLOUD)

#: What a caller may put in ``route`` to let the router decide.
AUTO: Final = "auto"

#: Why a request went where it went. ``predicted``: PRŜ against α; ``budget_cap``: the predictor
#: (or the caller) wanted the expensive tier but the budget was spent; ``forced``: the caller
#: chose the tier; ``no_prediction``: the router gave no PRŜ, the cheap tier is the safe default;
#: ``fallback``: the chosen tier was down or failed and another one served it.
Reason = Literal["predicted", "budget_cap", "forced", "no_prediction", "fallback"]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)

#: Where α came from: ``calibration`` (the checkpoint's PRŜ quantile for the budget), ``live``
#: (the quantile of the live PRŜ in the budget window) or ``ceiling`` (0.5: no share budget, or no
#: calibration and a cold window).
ThresholdSource = Literal["calibration", "live", "ceiling"]
THRESHOLD_SOURCES: Final[tuple[ThresholdSource, ...]] = get_args(ThresholdSource)

#: Which part of the budget blocked the expensive tier: the share cap, the money budget, or
#: ``store``: a shared budget store (Redis) cannot be reached, so no expensive image can be
#: reserved (the ledger fails closed).
CapKind = Literal["share", "money", "store"]
CAP_KINDS: Final[tuple[CapKind, ...]] = get_args(CapKind)

#: Why a tier's attempt failed and another tier served the request.
FallbackCause = Literal["overloaded", "unavailable", "timeout", "error"]
FALLBACK_CAUSES: Final[tuple[FallbackCause, ...]] = get_args(FallbackCause)

#: α never exceeds this: a prompt the cheap tier is predicted to win (PRŜ ≥ 0.5) stays there.
MAX_THRESHOLD: Final = 0.5


@dataclass(frozen=True)
class Prediction:
    """A router's prediction for one prompt: PRŜ ∈ (0, 1) (> 0.5: the cheap tier is predicted
    better) and D̂ per metric name (empty for a checkpoint with a single PRŜ head)."""

    prs: float
    metrics: Mapping[str, float] = field(default_factory=dict)
