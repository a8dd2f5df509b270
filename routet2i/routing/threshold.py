r"""The live threshold α from the budget's counts, written once for every ledger.

Both ledgers (the in-memory :class:`~routet2i.routing.budget.BudgetController` and the shared
:class:`~routet2i.budget_store.redis_ledger.RedisLedger`) describe their window and money period
as one :class:`WindowCounts`; :func:`plan_threshold` turns those counts into a
:class:`ThresholdPlan` (where α comes from, and for the live quantile the rank of the PRŜ to read),
and :func:`resolve_threshold` reads α off the plan. The split lets a shared ledger read the one
PRŜ it needs from its own sorted sample (one lookup) instead of moving the sample.

The formulas (the module docstring of :mod:`routet2i.routing.budget` explains them)::

    ρ_eff = min(ρ, s),  s = (M / R − ē) / (c̄ − ē)    (money share, clamped to [0, 1])
    q     = (ρ_eff · n − forced_cloud) / (n_live + n_stale)     (clamped to [0, 1])
    α     = min(0.5, sample[⌊q · n_live⌋])              (+inf past the sample's end)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from routet2i.types import MAX_THRESHOLD, ThresholdSource

if TYPE_CHECKING:  # the policy imports nothing from here; only its type is needed
    from routet2i.routing.budget import BudgetPolicy

#: A checkpoint's calibration: cloud share ρ ∈ [0, 1] → α (None: not calibrated).
Calibration = Callable[[float], float | None]


@dataclass(frozen=True)
class WindowCounts:
    """What a ledger knows of its share window and money period at one moment."""

    #: Decisions in the share window.
    decisions: int
    #: Of them on the expensive tier, and the forced ones among those.
    expensive: int
    forced_expensive: int
    #: Automatic decisions in the window with a PRŜ of the live router (the live sample) …
    live: int
    #: … and with a PRŜ of a router replaced since.
    stale: int
    #: Sums of the quoted (cheap, expensive) cost of the decisions in the window.
    cheap_quotes: float
    expensive_quotes: float
    #: Client decisions recorded in the money period.
    period_requests: int
    #: Seconds of the ledger's clock since its first decision (None before one).
    age_s: float | None


@dataclass(frozen=True)
class ThresholdPlan:
    """Where α comes from: ``source``, the share ρ_eff it aims at, and for ``live`` the rank of
    the live PRŜ that is α (None: past the end of the sample, α = +inf before the 0.5 cap)."""

    source: ThresholdSource
    share: float | None
    rank: int | None = None


def money_share(policy: BudgetPolicy, counts: WindowCounts) -> float | None:
    """The cloud share the money budget affords at the observed request rate and prices::

        s = (M / R − ē) / (c̄ − ē),   R = requests expected per period

    with c̄ / ē the mean quoted cloud / edge cost of a request in the window (None: no money cap)."""
    money = policy.money_per_period
    if money is None:
        return None
    n = counts.decisions
    if n == 0 or counts.age_s is None:
        return 1.0
    mean_edge, mean_cloud = counts.cheap_quotes / n, counts.expensive_quotes / n
    if mean_cloud <= mean_edge:
        return 1.0
    span = min(max(counts.age_s, 1.0), policy.period_s)
    expected = counts.period_requests / span * policy.period_s
    if expected <= 0:
        return 1.0
    share = (money / expected - mean_edge) / (mean_cloud - mean_edge)
    return min(max(share, 0.0), 1.0)


def effective_share(policy: BudgetPolicy, counts: WindowCounts) -> float | None:
    """ρ_eff: the tighter of the share budget and what the money affords (None: neither is set)."""
    shares = [s for s in (policy.cloud_share, money_share(policy, counts)) if s is not None]
    return min(shares) if shares else None


def plan_threshold(policy: BudgetPolicy, counts: WindowCounts) -> ThresholdPlan:
    """Where α comes from now (see the module docstring)."""
    rho = effective_share(policy, counts)
    if rho is None or rho >= 1.0:
        return ThresholdPlan("ceiling", rho)
    if counts.live >= policy.warmup:
        # the share of automatic requests the cloud may take, over all of them in the window
        # (also those a replaced router predicted); α: that quantile of the live router's PRŜ
        q = (rho * counts.decisions - counts.forced_expensive) / (counts.live + counts.stale)
        k = math.floor(min(max(q, 0.0), 1.0) * counts.live + 1e-9)
        return ThresholdPlan("live", rho, k if k < counts.live else None)
    return ThresholdPlan("calibration", rho)


def resolve_threshold(
    plan: ThresholdPlan, live_value: float | None, calibration: Calibration | None
) -> tuple[float, ThresholdSource]:
    """α and its source from ``plan``: ``live_value`` is the live PRŜ at ``plan.rank`` (ignored
    otherwise); a checkpoint without a calibration leaves α at the 0.5 ceiling until warm."""
    if plan.source == "live":
        alpha = math.inf if plan.rank is None or live_value is None else live_value
        return min(alpha, MAX_THRESHOLD), "live"
    if plan.source == "calibration" and plan.share is not None and calibration is not None:
        alpha_cal = calibration(plan.share)
        if alpha_cal is not None:
            return min(float(alpha_cal), MAX_THRESHOLD), "calibration"
    return MAX_THRESHOLD, "ceiling"
