r"""The budget controller: picks the cheap or the expensive tier from PRŜ so the expensive tier's
share stays within budget (the in-memory :class:`~routet2i.routing.ledger.BudgetLedger`).

The two default tiers are ``edge`` (cheap) and ``cloud`` (expensive); "cloud" in the names of the
budget's fields (``cloud_share``, ``cloud_in_window``, …) means the expensive tier, whatever it is
called (:class:`~routet2i.routing.tiers.Tiers`).

Pure: no I/O, no clock of its own (every call takes ``now``, seconds on a monotonic clock), no
locks (the dispatcher calls it from its event loop only). It holds a
:class:`~routet2i.routing.share_window.ShareWindow` (the last decisions) and a
:class:`~routet2i.routing.money.MoneyLedger` (the spend over the period).

**Budget.** Either or both of

* a *cloud share* ρ ∈ [0, 1]: over any ``window`` consecutive decisions at most ⌊ρ·window⌋
  go to the cloud (a hard cap; it also holds while fewer than ``window`` decisions exist);
* a *money budget* per period: over any ``period_s`` seconds, the quoted cost of the images
  sent to either tier stays ≤ ``money_per_period`` (the cloud is refused once the next cloud
  image would pass it; the edge is never refused). Costs come from :class:`Price`.

**Threshold.** Route to the cloud iff PRŜ < α (DESIGN §1, :mod:`routet2i.routing.rule`) with α ≤ 0.5 always, so a prompt the
edge is predicted to win never goes to the cloud. α starts from the checkpoint's calibration
(``calibration(ρ)``: the ρ-quantile of PRŜ on reference prompts) and, once ``warmup`` live
PRŜ values are in the window, becomes the quantile of the *live* PRŜ distribution at the share
the automatic requests may still use::

    q = (ρ_eff · n − forced_cloud) / n_auto          (clamped to [0, 1])
    α = min(0.5, q-quantile of the auto PRŜ in the window)

with n the decisions in the window, forced_cloud the forced cloud requests among them (they
count against the budget too), n_auto the automatic ones and ρ_eff the tighter of the share
budget and the share the money budget affords at the observed request rate. The quantile tracks
drifting traffic; the hard cap catches what the estimate misses. When the cap, not the
predictor, sends a request to the edge, the verdict's reason is ``budget_cap``.

**Life of a decision.** :meth:`BudgetController.reserve` records the decision at once (so
concurrent requests cannot overshoot the cap) and returns a ticket; :meth:`~BudgetController.preview`
gives the same verdict and records nothing (``POST /v1/route``). If the request is then
served by the other tier (fallback), :meth:`~BudgetController.reassign` moves it (moving to the
cloud is refused when over budget); if it produces nothing, :meth:`~BudgetController.release`
stops it counting as a cloud image or as spend. Its PRŜ stays in the live distribution.
:meth:`~BudgetController.settle` ends the ticket once the request is over.

**Shadow images** (:mod:`routet2i.routing.shadow`: a served request made again on the other tier
for the learner) are held by :meth:`~BudgetController.reserve_shadow` on their own line
(``shadow_spent``): they count against the money budget, which client and shadow spend together
never pass, but never against the cloud share window. A shadow image is refused once the money
left would fall below the share kept for clients (``keep_share``), so shadowing pauses before the
money cap refuses client traffic.

**A new router** (:meth:`BudgetController.recalibrate`, the gateway's hot reload). α starts
again from the new checkpoint's calibration: the live PRŜ so far come from the old model, on
another scale, so they leave the live sample, and the live quantile takes over again once
``warmup`` PRŜ of the new model are in. Everything that accounts for the budget stays: the
decisions in the window (the share cap and the share ``q`` above count them), the spend over the
period, open tickets and the counters. A request predicted by the old router but decided after
the swap (``sample=False``) counts like those: in the window, not in the new sample.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field

from routet2i.config import StrictModel
from routet2i.routing.money import MoneyLedger
from routet2i.routing.reservation import Reservation
from routet2i.routing.rule import choose_tier
from routet2i.routing.share_window import ShareWindow
from routet2i.routing.threshold import (
    Calibration,
    WindowCounts,
    effective_share,
    plan_threshold,
    resolve_threshold,
)
from routet2i.routing.tiers import Tiers
from routet2i.types import CapKind, Reason, ThresholdSource, TierName

__all__ = ["BudgetController", "BudgetPolicy", "BudgetState", "Calibration", "ShadowHold", "Verdict"]


class BudgetPolicy(StrictModel):
    """What the operator allows: the gateway's ``budget`` settings, changed at run time by
    ``PUT /v1/budget``. ``None`` disables that part of the budget (both ``None``: the cloud is
    unlimited and α stays at 0.5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ρ: the largest share of requests sent to the cloud over the window, in [0, 1]; null = no share cap.
    cloud_share: float | None = Field(default=0.3, ge=0, le=1)
    #: Money per ``period_s`` for both tiers, in the prices' currency; null = no money cap.
    money_per_period: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Length of the money period in seconds (a sliding window, not calendar periods).
    period_s: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    #: Length of the share window, in decisions.
    window: int = Field(default=1000, ge=1)
    #: Live PRŜ values needed before the live quantile replaces the checkpoint's calibration.
    warmup: int = Field(default=50, ge=1)

    @property
    def cloud_limit(self) -> int | None:
        """⌊ρ · window⌋: the most cloud decisions in any window, or None without a share budget."""
        if self.cloud_share is None:
            return None
        return math.floor(self.cloud_share * self.window + 1e-9)

    def changed(self, **changes: Any) -> BudgetPolicy:
        """This policy with ``changes`` (field → value), validated: a ValueError names the field."""
        return BudgetPolicy.model_validate({**self.model_dump(), **changes})


@dataclass(frozen=True)
class Verdict:
    """One routing decision of the controller."""

    #: Handle for :meth:`BudgetController.reassign` / :meth:`~BudgetController.release` /
    #: :meth:`~BudgetController.settle` (-1 for a preview, which records nothing).
    ticket: int
    #: Where the request goes.
    tier: TierName
    #: Where the predictor (or the caller, when forced) wanted it to go.
    wanted: TierName
    reason: Reason
    #: α used for this decision (PRŜ < α → cloud).
    threshold: float
    threshold_source: ThresholdSource
    #: The PRŜ decided on (None without a prediction).
    prs: float | None
    #: True when the caller forced the tier.
    forced: bool = False
    #: Which budget blocked the cloud, if one did.
    cap: CapKind | None = None


@dataclass(frozen=True)
class ShadowHold:
    """The budget's answer to one shadow image: a ticket for
    :meth:`BudgetController.release_shadow` / :meth:`~BudgetController.settle_shadow`, or -1 with
    the reason it was refused."""

    ticket: int
    #: ``cap``: the period's shadow images are used up; ``money``: the money budget is short.
    #: (``budget_unavailable``: a shared ledger's store cannot be reached).
    refused: Literal["cap", "money", "budget_unavailable"] | None = None


@dataclass(frozen=True)
class BudgetState:
    """A snapshot for ``GET /v1/budget`` and the metrics."""

    cloud_share: float | None
    money_per_period: float | None
    period_s: float
    window: int
    warmup: int
    #: The share α aims at: the tighter of ``cloud_share`` and what the money affords.
    effective_share: float | None
    #: Cloud decisions / decisions, over the window (0 when empty).
    realised_cloud_share: float
    window_requests: int
    cloud_in_window: int
    #: Cloud requests still allowed before the share cap binds (None without a share budget).
    cloud_left_in_window: int | None
    threshold: float
    threshold_source: ThresholdSource
    #: Quoted cost of the client requests in the money period (shadow images not included).
    spent_in_period: float
    #: What the money budget has left after client and shadow spend (None without a money budget).
    money_left: float | None
    decisions_total: int
    capped_total: int
    #: Quoted cost of the shadow images in the money period (:mod:`routet2i.routing.shadow`): part
    #: of the money budget, never of the cloud share window.
    shadow_spent: float = 0.0
    #: Shadow generations started in the money period (a failed one included).
    shadow_images: int = 0
    #: Where the budget is kept (``memory``: this process; ``redis``: shared by the gateways).
    store: Literal["memory", "redis"] = "memory"
    #: Whether the store answered its last step (a shared ledger fails closed while it does not).
    store_available: bool = True
    #: Steps that found the store unreachable, since start.
    store_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(
        cls,
        policy: BudgetPolicy,
        counts: WindowCounts,
        threshold: tuple[float, ThresholdSource],
        *,
        spent: float,
        shadow_spent: float,
        shadow_images: int,
        decisions: int,
        capped: int,
        **store: Any,
    ) -> BudgetState:
        """The state of any ledger from its policy, counts and totals (``store``: the store fields)."""
        n, expensive, limit, money = counts.decisions, counts.expensive, policy.cloud_limit, policy.money_per_period
        return cls(
            cloud_share=policy.cloud_share,
            money_per_period=money,
            period_s=policy.period_s,
            window=policy.window,
            warmup=policy.warmup,
            effective_share=effective_share(policy, counts),
            realised_cloud_share=expensive / n if n else 0.0,
            window_requests=n,
            cloud_in_window=expensive,
            cloud_left_in_window=None if limit is None else max(limit - expensive, 0),
            threshold=threshold[0],
            threshold_source=threshold[1],
            spent_in_period=spent,
            money_left=None if money is None else max(money - spent - shadow_spent, 0.0),
            shadow_spent=shadow_spent,
            shadow_images=shadow_images,
            decisions_total=decisions,
            capped_total=capped,
            **store,
        )


@dataclass
class _Counters:
    decisions: int = 0
    capped: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class BudgetController:
    """Decides the cheap or the expensive tier under a :class:`BudgetPolicy`; see the module
    docstring. The in-memory :class:`~routet2i.routing.ledger.BudgetLedger`.

    ``calibration`` maps a cloud share ρ to the checkpoint's α (the ρ-quantile of PRŜ on its
    reference prompts); without one (or when it returns None), α stays at 0.5 until the live
    window is warm. ``tiers``: the cheap and the expensive tier (default edge, cloud).
    """

    def __init__(
        self, policy: BudgetPolicy, calibration: Calibration | None = None, tiers: Tiers | None = None
    ) -> None:
        self._policy = policy
        self._calibration = calibration
        self._tiers = tiers or Tiers()
        self._window = ShareWindow(self._tiers.expensive)
        self._money = MoneyLedger()
        self._open: dict[int, Reservation] = {}
        #: Shadow images: their own spend and count over the money period, outside the window.
        self._shadow = MoneyLedger()
        self._shadow_open: dict[int, Reservation] = {}
        self._next_ticket = 0
        self._counters = _Counters()

    # ----------------------------------------------------------------------------- policy
    @property
    def policy(self) -> BudgetPolicy:
        return self._policy

    def update_policy(self, **changes: Any) -> BudgetPolicy:
        """Change the policy at run time (an operator's adjustment); keys are the fields of
        :class:`BudgetPolicy`. Raises ValueError on an invalid value, leaving the policy as it was.
        A shorter window drops the oldest decisions; history is otherwise kept."""
        policy = self._policy.changed(**changes)
        self._policy = policy
        self._window.trim(policy.window)
        return policy

    def recalibrate(self, calibration: Calibration | None) -> None:
        """A new router is live: α starts from ``calibration`` (its checkpoint's) again until
        ``warmup`` of its PRŜ are in the window; the budget's accounting is kept (module docstring)."""
        self._calibration = calibration
        self._window.mark_stale()

    # ----------------------------------------------------------------------------- decisions
    def preview(self, prs: float | None, *, now: float, forced: TierName | None = None) -> Verdict:
        """The verdict :meth:`reserve` would give now (quoted at no cost), recording nothing: no
        ticket (-1), nothing in the window, the spend or the counters."""
        self._expire(now)
        return self._verdict(-1, prs, now, 0.0, forced)

    def reserve(
        self,
        prs: float | None,
        *,
        now: float,
        cheap_cost: float = 0.0,
        expensive_cost: float = 0.0,
        forced: TierName | None = None,
        sample: bool = True,
    ) -> Verdict:
        """Pick and record the tier for one request with predicted superiority ``prs`` (None: no
        prediction → the cheap tier). ``cheap_cost`` / ``expensive_cost`` are its quoted prices on
        each tier. ``forced`` is the caller's choice: the expensive tier is still refused when over
        budget (reason ``budget_cap``, ``forced`` True; the dispatcher decides whether to reject
        the request). ``sample=False``: ``prs`` came from a router replaced since, keep it out of
        the live sample."""
        self._expire(now)
        if self._money.started is None:
            self._money.started = now
        ticket = self._next_ticket
        self._next_ticket += 1
        verdict = self._verdict(ticket, prs, now, expensive_cost, forced)
        entry = Reservation(
            ticket=ticket,
            prs=prs if prs is not None and not math.isnan(prs) else None,
            forced=forced is not None,
            tier=verdict.tier,
            cost=expensive_cost if verdict.tier == self._tiers.expensive else cheap_cost,
            cheap_quote=cheap_cost,
            expensive_quote=expensive_cost,
            bucket=self._money.bucket(now, self._policy.period_s),
            stale=not sample,
        )
        self._window.push(entry, self._policy.window)
        self._money.add(entry)
        self._open[ticket] = entry
        self._counters.decisions += 1
        self._counters.capped += verdict.cap is not None
        self._counters.by_reason[verdict.reason] = self._counters.by_reason.get(verdict.reason, 0) + 1
        return verdict

    def reassign(self, ticket: int, tier: TierName, *, now: float, cost: float) -> bool:
        """Move an open decision to ``tier`` at ``cost`` (a fallback). Moving to the expensive
        tier is refused (False, nothing changes) when it would break the budget; moving to the
        cheap tier always succeeds."""
        self._expire(now)
        entry = self._open.get(ticket)
        if entry is None:
            raise KeyError(f"no open decision with ticket {ticket}")
        if tier == entry.tier:
            return True
        if tier == self._tiers.expensive and self._expensive_block(cost, replacing=entry) is not None:
            return False
        self._set(entry, tier, cost)
        return True

    def release(self, ticket: int, *, now: float) -> None:
        """The request produced nothing: it no longer counts as a cloud image or as spend."""
        self._expire(now)
        entry = self._open.get(ticket)
        if entry is not None:
            self._set(entry, None, 0.0)

    def settle(self, ticket: int) -> None:
        """The request is over: forget its open ticket (idempotent). What it counted stays."""
        self._open.pop(ticket, None)

    # ----------------------------------------------------------------------------- shadow images
    def reserve_shadow(
        self, tier: TierName, cost: float, *, now: float, max_images: int, keep_share: float = 0.0
    ) -> ShadowHold:
        """Hold ``cost`` for one shadow image on ``tier`` (a second image of a served request, see
        :mod:`routet2i.routing.shadow`). Refused (ticket -1) with ``cap`` once ``max_images`` shadow
        images were started in the money period, and with ``money`` when client and shadow spend
        plus ``cost`` would pass ``(1 - keep_share)`` of the money budget: ``keep_share`` ∈ [0, 1]
        of the money is kept for client traffic, so shadowing pauses before a client is refused.
        A shadow image never enters the cloud share window."""
        self._expire(now)
        if self._shadow.requests >= max_images:
            return ShadowHold(-1, "cap")
        money = self._policy.money_per_period
        if money is not None:
            allowed = money * (1.0 - keep_share)
            if self._money.spent + self._shadow.spent + cost > allowed * (1 + 1e-12) + 1e-12:
                return ShadowHold(-1, "money")
        ticket = self._next_ticket
        self._next_ticket += 1
        entry = Reservation(
            ticket=ticket,
            prs=None,
            forced=False,
            tier=tier,
            cost=cost,
            cheap_quote=0.0,
            expensive_quote=0.0,
            bucket=self._shadow.bucket(now, self._policy.period_s),
            in_window=False,
        )
        self._shadow.add(entry)
        self._shadow_open[ticket] = entry
        return ShadowHold(ticket, None)

    def release_shadow(self, ticket: int, *, now: float) -> None:
        """The shadow image was not made: its cost no longer counts (it still counts as started)."""
        self._expire(now)
        entry = self._shadow_open.get(ticket)
        if entry is not None:
            self._shadow.reprice(entry, 0.0)
            entry.tier = None

    def settle_shadow(self, ticket: int) -> None:
        """The shadow generation is over: forget its open ticket (idempotent)."""
        self._shadow_open.pop(ticket, None)

    # ----------------------------------------------------------------------------- threshold
    def threshold(self, now: float) -> tuple[float, ThresholdSource]:
        """α for the next decision and where it comes from (see the module docstring)."""
        plan = plan_threshold(self._policy, self.counts(now))
        live = None if plan.rank is None else self._window.prs_value(plan.rank)
        return resolve_threshold(plan, live, self._calibration)

    def counts(self, now: float) -> WindowCounts:
        """The window's and the money period's counts (:mod:`routet2i.routing.threshold`)."""
        window = self._window
        cheap_quotes, expensive_quotes = window.quote_sums()
        return WindowCounts(
            decisions=len(window),
            expensive=window.expensive,
            forced_expensive=window.forced_expensive,
            live=window.live_samples,
            stale=window.stale_auto,
            cheap_quotes=cheap_quotes,
            expensive_quotes=expensive_quotes,
            period_requests=self._money.requests,
            age_s=None if self._money.started is None else now - self._money.started,
        )

    # ----------------------------------------------------------------------------- state
    def state(self, now: float) -> BudgetState:
        self._expire(now)
        return BudgetState.of(
            self._policy,
            self.counts(now),
            self.threshold(now),
            spent=self._money.spent,
            shadow_spent=self._shadow.spent,
            shadow_images=self._shadow.requests,
            decisions=self._counters.decisions,
            capped=self._counters.capped,
        )

    def reasons(self) -> dict[str, int]:
        """How many decisions had each reason since start (fallbacks are counted by the dispatcher)."""
        return dict(self._counters.by_reason)

    # ----------------------------------------------------------------------------- internals
    def _verdict(
        self, ticket: int, prs: float | None, now: float, expensive_cost: float, forced: TierName | None
    ) -> Verdict:
        alpha, source = self.threshold(now)
        wanted, reason = wanted_tier(prs, alpha, forced, self._tiers)
        cap = self._expensive_block(expensive_cost, replacing=None) if wanted == self._tiers.expensive else None
        return capped_verdict(ticket, prs, wanted, reason, cap, (alpha, source), forced, self._tiers)

    def _expire(self, now: float) -> None:
        self._money.expire(now, self._policy.period_s)
        self._shadow.expire(now, self._policy.period_s)

    def _expensive_block(self, cost: float, *, replacing: Reservation | None) -> CapKind | None:
        """Which budget a new expensive image of ``cost`` would break (None: it fits). With
        ``replacing``, the image takes that recorded decision's place instead of a new one."""
        policy = self._policy
        limit = policy.cloud_limit
        if limit is not None and self._window.expensive_after_one_more(policy.window, replacing) > limit:
            return "share"
        money = policy.money_per_period
        if money is not None:
            freed = self._money.refundable(replacing) if replacing is not None else 0.0
            if self._money.spent + self._shadow.spent - freed + cost > money * (1 + 1e-12) + 1e-12:
                return "money"
        return None

    def _set(self, entry: Reservation, tier: TierName | None, cost: float) -> None:
        self._window.move(entry, tier)
        self._money.reprice(entry, cost)
        entry.tier = tier


def wanted_tier(prs: float | None, threshold: float, forced: TierName | None, tiers: Tiers) -> tuple[TierName, Reason]:
    """Where the request wants to go before the budget has its say: the caller's tier when forced,
    else the routing rule's (:func:`~routet2i.routing.rule.choose_tier`)."""
    if forced is not None:
        return tiers.check(forced), "forced"
    return choose_tier(prs, threshold, tiers)


def capped_verdict(
    ticket: int,
    prs: float | None,
    wanted: TierName,
    reason: Reason,
    cap: CapKind | None,
    threshold: tuple[float, ThresholdSource],
    forced: TierName | None,
    tiers: Tiers,
) -> Verdict:
    """The verdict once the budget has tested the caps: a blocked expensive image (``cap``) goes
    to the cheap tier with reason ``budget_cap``."""
    tier, why = wanted, reason
    if cap is not None:
        tier, why = tiers.cheap, "budget_cap"
    alpha, source = threshold
    return Verdict(ticket, tier, wanted, why, alpha, source, prs, forced is not None, cap)
