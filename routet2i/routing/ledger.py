"""The budget ledger: what the dispatcher needs from the budget, so that a shared ledger (several
gateway replicas, one budget) can replace the in-memory :class:`~routet2i.routing.budget.BudgetController`.

The life of one request's budget: :meth:`~BudgetLedger.reserve` decides the tier and holds the
request's share and cost at once (concurrent requests cannot overshoot a cap);
:meth:`~BudgetLedger.reassign` moves it to the other tier (a fallback; refused when over
budget); :meth:`~BudgetLedger.release` gives back what a request that produced nothing held;
:meth:`~BudgetLedger.settle` ends the reservation once the request is over (always called, also
after a release). :meth:`~BudgetLedger.preview` answers what :meth:`reserve` would decide and
records nothing. ``now`` is seconds on the dispatcher's monotonic clock (a shared ledger keeps
one clock of its own for all its gateways and ignores it).

Every step is a coroutine: a shared ledger (:mod:`routet2i.budget_store`) answers over the
network. :class:`MemoryLedger` is the in-memory one: the pure
:class:`~routet2i.routing.budget.BudgetController`, awaited in place.

Shadow images (:mod:`routet2i.routing.shadow`) have their own life: :meth:`~BudgetLedger.reserve_shadow`
holds one image's cost against the money budget (never the share window), or refuses it;
:meth:`~BudgetLedger.release_shadow` gives it back when the image was not made;
:meth:`~BudgetLedger.settle_shadow` ends it.
"""

from __future__ import annotations

from typing import Any, Protocol

from routet2i.routing.budget import BudgetController, BudgetPolicy, BudgetState, Calibration, ShadowHold, Verdict
from routet2i.types import ThresholdSource, TierName


class BudgetLedger(Protocol):
    """The budget behind the dispatcher (see the module docstring)."""

    @property
    def policy(self) -> BudgetPolicy: ...

    async def start(self) -> None:
        """Connect (a shared ledger); never raises for an unreachable store: the ledger then
        fails closed until it is back."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

    async def update_policy(self, **changes: Any) -> BudgetPolicy:
        """Change the policy (fields of :class:`BudgetPolicy`); ValueError naming the field, and
        nothing changed, on an invalid value."""
        ...

    async def recalibrate(self, calibration: Calibration | None) -> None:
        """A new router is live: α starts from its calibration; the accounting is kept."""
        ...

    async def preview(self, prs: float | None, *, now: float, forced: TierName | None = None) -> Verdict:
        """The verdict :meth:`reserve` would give now; records nothing (ticket -1)."""
        ...

    async def reserve(
        self,
        prs: float | None,
        *,
        now: float,
        cheap_cost: float = 0.0,
        expensive_cost: float = 0.0,
        forced: TierName | None = None,
        sample: bool = True,
    ) -> Verdict:
        """Decide and hold the request's share and cost; the verdict's ticket names the reservation."""
        ...

    async def reassign(self, ticket: int, tier: TierName, *, now: float, cost: float) -> bool:
        """Move a reservation to ``tier`` at ``cost``; False (nothing changed) when over budget."""
        ...

    async def release(self, ticket: int, *, now: float) -> None:
        """The request produced nothing: it holds no share and no spend any more."""
        ...

    async def settle(self, ticket: int) -> None:
        """The request is over (idempotent)."""
        ...

    async def reserve_shadow(
        self, tier: TierName, cost: float, *, now: float, max_images: int, keep_share: float = 0.0
    ) -> ShadowHold:
        """Hold ``cost`` for one shadow image on ``tier``, or refuse it (``cap``: ``max_images``
        started in the money period; ``money``: client + shadow spend + ``cost`` would pass
        ``1 - keep_share`` of the money budget)."""
        ...

    async def release_shadow(self, ticket: int, *, now: float) -> None:
        """The shadow image was not made: its cost no longer counts."""
        ...

    async def settle_shadow(self, ticket: int) -> None:
        """The shadow generation is over (idempotent)."""
        ...

    async def threshold(self, now: float) -> tuple[float, ThresholdSource]:
        """α for the next decision and where it comes from."""
        ...

    async def state(self, now: float) -> BudgetState:
        """A snapshot of the budget."""
        ...

    async def reasons(self) -> dict[str, int]:
        """Decisions by reason since start."""
        ...


class MemoryLedger:
    """The budget of one gateway process: a :class:`BudgetController` behind the
    :class:`BudgetLedger` coroutines (each step runs at once on the event loop, so no lock)."""

    def __init__(self, controller: BudgetController) -> None:
        self.controller = controller

    @property
    def policy(self) -> BudgetPolicy:
        return self.controller.policy

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def update_policy(self, **changes: Any) -> BudgetPolicy:
        return self.controller.update_policy(**changes)

    async def recalibrate(self, calibration: Calibration | None) -> None:
        self.controller.recalibrate(calibration)

    async def preview(self, prs: float | None, *, now: float, forced: TierName | None = None) -> Verdict:
        return self.controller.preview(prs, now=now, forced=forced)

    async def reserve(
        self,
        prs: float | None,
        *,
        now: float,
        cheap_cost: float = 0.0,
        expensive_cost: float = 0.0,
        forced: TierName | None = None,
        sample: bool = True,
    ) -> Verdict:
        return self.controller.reserve(
            prs, now=now, cheap_cost=cheap_cost, expensive_cost=expensive_cost, forced=forced, sample=sample
        )

    async def reassign(self, ticket: int, tier: TierName, *, now: float, cost: float) -> bool:
        return self.controller.reassign(ticket, tier, now=now, cost=cost)

    async def release(self, ticket: int, *, now: float) -> None:
        self.controller.release(ticket, now=now)

    async def settle(self, ticket: int) -> None:
        self.controller.settle(ticket)

    async def reserve_shadow(
        self, tier: TierName, cost: float, *, now: float, max_images: int, keep_share: float = 0.0
    ) -> ShadowHold:
        return self.controller.reserve_shadow(tier, cost, now=now, max_images=max_images, keep_share=keep_share)

    async def release_shadow(self, ticket: int, *, now: float) -> None:
        self.controller.release_shadow(ticket, now=now)

    async def settle_shadow(self, ticket: int) -> None:
        self.controller.settle_shadow(ticket)

    async def threshold(self, now: float) -> tuple[float, ThresholdSource]:
        return self.controller.threshold(now)

    async def state(self, now: float) -> BudgetState:
        return self.controller.state(now)

    async def reasons(self) -> dict[str, int]:
        return self.controller.reasons()
