r"""The budget controller: picks edge or cloud from PRŜ so the cloud share stays within budget.

Pure: no I/O, no clock of its own (every call takes ``now``, seconds on a monotonic clock), no
locks (the gateway calls it from its event loop only).

**Budget.** Either or both of

* a *cloud share* ρ ∈ [0, 1]: over any ``window`` consecutive decisions at most ⌊ρ·window⌋
  go to the cloud (a hard cap; it also holds while fewer than ``window`` decisions exist);
* a *money budget* per period: over any ``period_s`` seconds, the quoted cost of the images
  sent to either tier stays ≤ ``money_per_period`` (the cloud is refused once the next cloud
  image would pass it; the edge is never refused). Costs come from :class:`Price`.

**Threshold.** Route to the cloud iff PRŜ < α (DESIGN §1) with α ≤ 0.5 always, so a prompt the
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

**Life of a decision.** :meth:`BudgetController.decide` records the decision at once (so
concurrent requests cannot overshoot the cap) and returns a ticket. If the request is then
served by the other tier (fallback), :meth:`~BudgetController.reassign` moves it (moving to the
cloud is refused when over budget); if it produces nothing, :meth:`~BudgetController.release`
stops it counting as a cloud image or as spend. Its PRŜ stays in the live distribution.

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
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Tier = Literal["edge", "cloud"]
EDGE: Tier = "edge"
CLOUD: Tier = "cloud"
TIERS: tuple[Tier, Tier] = (EDGE, CLOUD)

#: Why a request went where it went. ``predicted``: PRŜ against α; ``budget_cap``: the predictor
#: (or the caller) wanted the cloud but the budget was spent; ``forced``: the caller chose the
#: tier; ``no_prediction``: the router gave no PRŜ, the edge is the safe default; ``fallback``:
#: the chosen tier was down or failed and the other one served it (set by the gateway).
Reason = Literal["predicted", "budget_cap", "forced", "no_prediction", "fallback"]

#: Which part of the budget blocked the cloud.
CapKind = Literal["share", "money"]

#: α never exceeds this: a prompt the edge is predicted to win (PRŜ ≥ 0.5) stays on the edge.
MAX_THRESHOLD = 0.5

#: How finely the money window is bucketed (buckets per period); spend is kept conservatively:
#: a bucket leaves the window only when all of it is older than ``period_s``.
_MONEY_BUCKETS = 512


def other_tier(tier: Tier) -> Tier:
    """The tier that is not ``tier``."""
    return CLOUD if tier == EDGE else EDGE


@dataclass(frozen=True)
class Price:
    """Price of images on one tier, in the budget's currency::

        cost = n · (per_image + per_megapixel · MP + per_megapixel_step · MP · steps)

    with MP = width · height / 10⁶ (a 512×512 image is 0.262 MP). A hosted API priced per image
    sets ``per_image``; a GPU priced by compute time is roughly proportional to MP · steps.
    """

    per_image: float = 0.0
    per_megapixel: float = 0.0
    per_megapixel_step: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_image", "per_megapixel", "per_megapixel_step"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"price {name} must be a finite number ≥ 0, got {value}")

    def cost(self, width: int, height: int, steps: int | None, n: int = 1) -> float:
        """Cost of ``n`` images of ``width``×``height`` pixels with ``steps`` denoising steps
        (``None``: unknown, the per-step part is not charged)."""
        mp = width * height / 1e6
        return n * (self.per_image + self.per_megapixel * mp + self.per_megapixel_step * mp * (steps or 0))


@dataclass(frozen=True)
class BudgetPolicy:
    """What the operator allows. ``None`` disables that part of the budget (both ``None``: the
    cloud is unlimited and α stays at 0.5)."""

    #: ρ: the largest share of requests sent to the cloud, in [0, 1].
    cloud_share: float | None = 0.3
    #: Money that may be spent per ``period_s`` over both tiers (currency of the prices).
    money_per_period: float | None = None
    #: Length of the money period in seconds (a sliding window, not calendar periods).
    period_s: float = 3600.0
    #: Length of the share window, in decisions.
    window: int = 1000
    #: Live PRŜ values needed before the live quantile replaces the checkpoint's calibration.
    warmup: int = 50

    def __post_init__(self) -> None:
        if self.cloud_share is not None and not 0.0 <= self.cloud_share <= 1.0:
            raise ValueError(f"cloud_share must be in [0, 1], got {self.cloud_share}")
        if self.money_per_period is not None and (
            not math.isfinite(self.money_per_period) or self.money_per_period < 0
        ):
            raise ValueError(f"money_per_period must be a finite number ≥ 0, got {self.money_per_period}")
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ValueError(f"period_s must be > 0, got {self.period_s}")
        if self.window < 1:
            raise ValueError(f"window must be ≥ 1, got {self.window}")
        if self.warmup < 1:
            raise ValueError(f"warmup must be ≥ 1, got {self.warmup}")

    @property
    def cloud_limit(self) -> int | None:
        """⌊ρ · window⌋: the most cloud decisions in any window, or None without a share budget."""
        if self.cloud_share is None:
            return None
        return math.floor(self.cloud_share * self.window + 1e-9)


@dataclass(frozen=True)
class Verdict:
    """One routing decision of the controller."""

    #: Handle for :meth:`BudgetController.reassign` / :meth:`~BudgetController.release`
    #: (-1 for a preview, which records nothing).
    ticket: int
    #: Where the request goes.
    tier: Tier
    #: Where the predictor (or the caller, when forced) wanted it to go.
    wanted: Tier
    reason: Reason
    #: α used for this decision (PRŜ < α → cloud).
    threshold: float
    #: ``calibration`` (checkpoint quantile), ``live`` (window quantile) or ``ceiling`` (0.5:
    #: no share budget, or no calibration yet).
    threshold_source: str
    #: The PRŜ decided on (None without a prediction).
    prs: float | None
    #: True when the caller forced the tier.
    forced: bool = False
    #: Which budget blocked the cloud, if one did.
    cap: CapKind | None = None


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
    threshold_source: str
    spent_in_period: float
    #: None without a money budget.
    money_left: float | None
    decisions_total: int
    capped_total: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class _Bucket:
    start: float
    cost: float = 0.0
    count: int = 0
    alive: bool = True


@dataclass(eq=False)
class _Entry:
    ticket: int
    prs: float | None
    forced: bool
    tier: Tier | None
    cost: float
    cloud_quote: float
    edge_quote: float
    bucket: _Bucket
    in_window: bool = True
    #: Its PRŜ came from a router replaced since: not part of the live PRŜ sample.
    stale: bool = False


@dataclass
class _Counters:
    decisions: int = 0
    capped: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class BudgetController:
    """Decides edge or cloud under a :class:`BudgetPolicy`; see the module docstring.

    ``calibration`` maps a cloud share ρ to the checkpoint's α (the ρ-quantile of PRŜ on its
    reference prompts); without one (or when it returns None), α stays at 0.5 until the live
    window is warm.
    """

    def __init__(self, policy: BudgetPolicy, calibration: Callable[[float], float | None] | None = None) -> None:
        self._policy = policy
        self._calibration = calibration
        self._window: deque[_Entry] = deque()
        self._open: dict[int, _Entry] = {}
        self._auto_prs: list[float] = []  # sorted PRŜ of the automatic decisions in the window
        self._stale_auto = 0  # automatic decisions in the window whose PRŜ came from a replaced router
        self._cloud_in_window = 0
        self._forced_cloud_in_window = 0
        self._cloud_quote_sum = 0.0
        self._edge_quote_sum = 0.0
        self._buckets: deque[_Bucket] = deque()
        self._spent = 0.0
        self._requests_in_period = 0
        self._started: float | None = None
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
        policy = replace(self._policy, **changes)
        self._policy = policy
        self._trim_window(policy.window)
        return policy

    def recalibrate(self, calibration: Callable[[float], float | None] | None) -> None:
        """A new router is live: α starts from ``calibration`` (its checkpoint's) again until
        ``warmup`` of its PRŜ are in the window; the budget's accounting is kept (module docstring)."""
        self._calibration = calibration
        for entry in self._window:
            if entry.prs is not None and not entry.forced and not entry.stale:
                entry.stale = True
                self._stale_auto += 1
        self._auto_prs.clear()

    # ----------------------------------------------------------------------------- decisions
    def decide(
        self,
        prs: float | None,
        *,
        now: float,
        cloud_cost: float = 0.0,
        edge_cost: float = 0.0,
        forced: Tier | None = None,
        record: bool = True,
        sample: bool = True,
    ) -> Verdict:
        """Pick the tier for one request with predicted superiority ``prs`` (None: no
        prediction → edge). ``cloud_cost`` / ``edge_cost`` are its quoted prices on each tier.
        ``forced`` is the caller's choice: the cloud is still refused when over budget (reason
        ``budget_cap``, ``forced`` True; the gateway decides whether to reject the request).
        With ``record=False`` nothing is recorded (a preview, e.g. ``POST /v1/route``);
        ``sample=False``: ``prs`` came from a router replaced since, keep it out of the live sample."""
        self._expire(now)
        if self._started is None and record:
            self._started = now
        alpha, source = self.threshold(now)
        reason: Reason
        if forced is not None:
            wanted, reason = forced, "forced"
        elif prs is None or math.isnan(prs):
            wanted, reason = EDGE, "no_prediction"
        else:
            wanted, reason = (CLOUD if prs < alpha else EDGE), "predicted"
        tier = wanted
        cap = self._cloud_block(cloud_cost, replacing=None) if wanted == CLOUD else None
        if cap is not None:
            tier, reason = EDGE, "budget_cap"
        if not record:
            return Verdict(-1, tier, wanted, reason, alpha, source, prs, forced is not None, cap)
        ticket = self._next_ticket
        self._next_ticket += 1
        cost = cloud_cost if tier == CLOUD else edge_cost
        entry = _Entry(
            ticket=ticket,
            prs=prs if prs is not None and not math.isnan(prs) else None,
            forced=forced is not None,
            tier=tier,
            cost=cost,
            cloud_quote=cloud_cost,
            edge_quote=edge_cost,
            bucket=self._bucket(now),
            stale=not sample,
        )
        self._push(entry)
        self._open[ticket] = entry
        self._counters.decisions += 1
        self._counters.capped += cap is not None
        self._counters.by_reason[reason] = self._counters.by_reason.get(reason, 0) + 1
        return Verdict(ticket, tier, wanted, reason, alpha, source, prs, forced is not None, cap)

    def reassign(self, ticket: int, tier: Tier, *, now: float, cost: float) -> bool:
        """Move an open decision to ``tier`` at ``cost`` (a fallback). Moving to the cloud is
        refused (False, nothing changes) when it would break the budget; moving to the edge
        always succeeds."""
        self._expire(now)
        entry = self._open.get(ticket)
        if entry is None:
            raise KeyError(f"no open decision with ticket {ticket}")
        if tier == entry.tier:
            return True
        if tier == CLOUD and self._cloud_block(cost, replacing=entry) is not None:
            return False
        self._set(entry, tier, cost)
        return True

    def release(self, ticket: int, *, now: float) -> None:
        """The request produced nothing: it no longer counts as a cloud image or as spend."""
        self._expire(now)
        entry = self._open.get(ticket)
        if entry is not None:
            self._set(entry, None, 0.0)

    def close(self, ticket: int) -> None:
        """Forget an open ticket once the request is over (idempotent)."""
        self._open.pop(ticket, None)

    # ----------------------------------------------------------------------------- threshold
    def threshold(self, now: float) -> tuple[float, str]:
        """α for the next decision and where it comes from (see the module docstring)."""
        rho = self._effective_share(now)
        if rho is None or rho >= 1.0:
            return MAX_THRESHOLD, "ceiling"
        n_auto = len(self._auto_prs)
        if n_auto >= self._policy.warmup:
            n = len(self._window)
            # the share of automatic requests the cloud may take, over all of them in the window
            # (also those a replaced router predicted); α: that quantile of the live router's PRŜ
            q = (rho * n - self._forced_cloud_in_window) / (n_auto + self._stale_auto)
            q = min(max(q, 0.0), 1.0)
            k = math.floor(q * n_auto + 1e-9)
            alpha = self._auto_prs[k] if k < n_auto else math.inf
            return min(alpha, MAX_THRESHOLD), "live"
        alpha_cal = None if self._calibration is None else self._calibration(rho)
        if alpha_cal is not None:
            return min(float(alpha_cal), MAX_THRESHOLD), "calibration"
        return MAX_THRESHOLD, "ceiling"

    # ----------------------------------------------------------------------------- state
    def state(self, now: float) -> BudgetState:
        self._expire(now)
        policy = self._policy
        n = len(self._window)
        limit = policy.cloud_limit
        alpha, source = self.threshold(now)
        return BudgetState(
            cloud_share=policy.cloud_share,
            money_per_period=policy.money_per_period,
            period_s=policy.period_s,
            window=policy.window,
            warmup=policy.warmup,
            effective_share=self._effective_share(now),
            realised_cloud_share=self._cloud_in_window / n if n else 0.0,
            window_requests=n,
            cloud_in_window=self._cloud_in_window,
            cloud_left_in_window=None if limit is None else max(limit - self._cloud_in_window, 0),
            threshold=alpha,
            threshold_source=source,
            spent_in_period=self._spent,
            money_left=None if policy.money_per_period is None else max(policy.money_per_period - self._spent, 0.0),
            decisions_total=self._counters.decisions,
            capped_total=self._counters.capped,
        )

    def reasons(self) -> dict[str, int]:
        """How many decisions had each reason since start (fallbacks are counted by the gateway)."""
        return dict(self._counters.by_reason)

    # ----------------------------------------------------------------------------- internals
    def _effective_share(self, now: float) -> float | None:
        shares = [s for s in (self._policy.cloud_share, self._money_share(now)) if s is not None]
        return min(shares) if shares else None

    def _money_share(self, now: float) -> float | None:
        """The cloud share the money budget affords at the observed rate and prices::

            s = (M / R − ē) / (c̄ − ē),   R = requests expected per period

        with c̄ / ē the mean quoted cloud / edge cost of a request in the window."""
        money = self._policy.money_per_period
        if money is None:
            return None
        n = len(self._window)
        if n == 0 or self._started is None:
            return 1.0
        mean_cloud = self._cloud_quote_sum / n
        mean_edge = self._edge_quote_sum / n
        if mean_cloud <= mean_edge:
            return 1.0
        span = min(max(now - self._started, 1.0), self._policy.period_s)
        expected = self._requests_in_period / span * self._policy.period_s
        if expected <= 0:
            return 1.0
        share = (money / expected - mean_edge) / (mean_cloud - mean_edge)
        return min(max(share, 0.0), 1.0)

    def _cloud_block(self, cost: float, *, replacing: _Entry | None) -> CapKind | None:
        """Which budget a new cloud image of ``cost`` would break (None: it fits). With
        ``replacing``, the image takes that recorded decision's place instead of a new one."""
        policy = self._policy
        limit = policy.cloud_limit
        if limit is not None:
            after = self._cloud_in_window + 1
            if replacing is None:
                if len(self._window) >= policy.window and self._window[0].tier == CLOUD:
                    after -= 1  # the oldest decision leaves the window when this one enters
            elif not replacing.in_window:
                after -= 1
            if after > limit:
                return "share"
        money = policy.money_per_period
        if money is not None:
            freed = replacing.cost if replacing is not None and replacing.bucket.alive else 0.0
            if self._spent - freed + cost > money * (1 + 1e-12) + 1e-12:
                return "money"
        return None

    def _push(self, entry: _Entry) -> None:
        self._window.append(entry)
        if entry.tier == CLOUD:
            self._cloud_in_window += 1
            self._forced_cloud_in_window += entry.forced
        if entry.prs is not None and not entry.forced:
            if entry.stale:
                self._stale_auto += 1
            else:
                insort(self._auto_prs, entry.prs)
        self._cloud_quote_sum += entry.cloud_quote
        self._edge_quote_sum += entry.edge_quote
        entry.bucket.cost += entry.cost
        entry.bucket.count += 1
        self._spent += entry.cost
        self._requests_in_period += 1
        self._trim_window(self._policy.window)

    def _trim_window(self, size: int) -> None:
        while len(self._window) > size:
            old = self._window.popleft()
            old.in_window = False
            if old.tier == CLOUD:
                self._cloud_in_window -= 1
                self._forced_cloud_in_window -= old.forced
            if old.prs is not None and not old.forced:
                if old.stale:
                    self._stale_auto -= 1
                else:
                    del self._auto_prs[bisect_left(self._auto_prs, old.prs)]
            self._cloud_quote_sum -= old.cloud_quote
            self._edge_quote_sum -= old.edge_quote
        if not self._window:  # keep float sums from drifting
            self._cloud_quote_sum = self._edge_quote_sum = 0.0

    def _set(self, entry: _Entry, tier: Tier | None, cost: float) -> None:
        if entry.in_window:
            if entry.tier == CLOUD:
                self._cloud_in_window -= 1
                self._forced_cloud_in_window -= entry.forced
            if tier == CLOUD:
                self._cloud_in_window += 1
                self._forced_cloud_in_window += entry.forced
        if entry.bucket.alive:
            entry.bucket.cost += cost - entry.cost
            self._spent += cost - entry.cost
        entry.tier = tier
        entry.cost = cost

    def _bucket(self, now: float) -> _Bucket:
        width = self._policy.period_s / _MONEY_BUCKETS
        if self._buckets and now < self._buckets[-1].start + width:
            return self._buckets[-1]
        bucket = _Bucket(start=now)
        self._buckets.append(bucket)
        return bucket

    def _expire(self, now: float) -> None:
        policy = self._policy
        width = policy.period_s / _MONEY_BUCKETS
        while self._buckets and self._buckets[0].start + width <= now - policy.period_s:
            old = self._buckets.popleft()
            old.alive = False
            self._spent -= old.cost
            self._requests_in_period -= old.count
        if not self._buckets:
            self._spent = 0.0
            self._requests_in_period = 0
