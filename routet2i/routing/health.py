"""Tier health: one circuit breaker per tier, fed by periodic checks and by request outcomes.

A tier that fails, times out or answers 429 is taken out of rotation (see
:mod:`routet2i.routing.breaker`): a refused connection or a 429 opens its circuit at once (for the
worker's ``Retry-After`` or the cooldown), other failures after ``failure_threshold`` in a row.
The periodic check (``GET /readyz`` on the worker) closes the circuit again when the worker is
back, so a tier returns without waiting for a user request to risk it.

Each check keeps the worker's own reason for not being ready (its ``/readyz`` body: still loading,
the error its model failed to load with; or why it could not be asked: connection refused, no
answer in time) with the tier's state, for the gateway's ``/readyz``. A tier leaving or rejoining
the rotation is logged once per change (not at every check while it stays out).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from routet2i.routing.breaker import BreakerPolicy, CircuitBreaker
from routet2i.routing.ports import ImageWorker
from routet2i.routing.probe import health_check
from routet2i.tasks import cancel_and_wait
from routet2i.types import TierName
from routet2i.workers import errors as werr

log = logging.getLogger("routet2i.routing.health")

#: Called when a tier changes state: (tier, up).
TransitionObserver = Callable[[TierName, bool], None]


class TierHealth:
    """One breaker per tier (the keys of ``workers``) plus the periodic checker."""

    def __init__(
        self,
        workers: Mapping[TierName, ImageWorker],
        policy: BreakerPolicy,
        *,
        interval_s: float = 5.0,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        observer: TransitionObserver | None = None,
    ) -> None:
        self._workers = dict(workers)
        self._tiers = tuple(workers)
        self._breakers = {tier: CircuitBreaker(policy) for tier in self._tiers}
        self._interval = interval_s
        self._timeout = timeout_s
        self._clock = clock
        self._observer = observer
        self._task: asyncio.Task[None] | None = None
        self._checked = {tier: False for tier in self._tiers}
        #: The last check's reason for a tier not being ready (None: ready, or not checked yet).
        self._not_ready: dict[TierName, str | None] = {tier: None for tier in self._tiers}
        #: Whether each tier was last reported in rotation (a change is logged and observed once).
        self._in_rotation = {tier: True for tier in self._tiers}
        #: The last failure was an overload (a 429): out of rotation, the tier is busy, not down.
        self._overloaded = {tier: False for tier in self._tiers}

    # ----------------------------------------------------------------------------- queries
    def available(self, tier: TierName) -> bool:
        return self._breakers[tier].available(self._clock())

    def closed(self, tier: TierName) -> bool:
        """Whether ``tier``'s circuit is closed (healthy; not open, not on trial)."""
        return self._breakers[tier].state(self._clock()) == "closed"

    def acquire(self, tier: TierName) -> bool:
        """Claim a slot on ``tier`` for one request (False while its circuit is open)."""
        return self._breakers[tier].acquire(self._clock())

    def retry_after(self, tier: TierName) -> float:
        return self._breakers[tier].retry_after(self._clock())

    def overloaded(self, tier: TierName) -> bool:
        """Whether ``tier`` is out of rotation because its worker said it is over capacity (a 429
        opened the circuit for its ``Retry-After``): busy, not down."""
        return self._overloaded[tier] and not self.available(tier)

    def reason(self, tier: TierName) -> str | None:
        """Why ``tier`` is not taking traffic, or None when it is: the last health check's reason
        when it said not ready, else the error that opened the circuit."""
        if self.available(tier):
            return None
        return self._not_ready[tier] or self._breakers[tier].last_error

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        return {
            tier: {
                **self._breakers[tier].snapshot(now),
                "checked": self._checked[tier],
                "not_ready_reason": self._not_ready[tier],
            }
            for tier in self._tiers
        }

    # ----------------------------------------------------------------------------- outcomes
    def record_success(self, tier: TierName) -> None:
        self._overloaded[tier] = False
        self._breakers[tier].record_success(self._clock())
        self._notify(tier)

    def record_failure(self, tier: TierName, exc: BaseException, *, cooldown_s: float | None = None) -> None:
        """Count a failure. A 429 opens the circuit for its ``Retry-After``; an unreachable
        worker (503) at once for the cooldown; timeouts and errors count toward the threshold."""
        breaker = self._breakers[tier]
        self._overloaded[tier] = isinstance(exc, werr.WorkerOverloaded)
        open_for: float | None = None
        if isinstance(exc, werr.WorkerOverloaded):
            open_for = exc.retry_after or breaker.policy.cooldown_s
        elif isinstance(exc, werr.WorkerUnavailable):
            open_for = cooldown_s or breaker.policy.cooldown_s
        message = f"{type(exc).__name__}: {exc}"[:300]
        breaker.record_failure(self._clock(), message, open_for=open_for)
        self._notify(tier)

    def _notify(self, tier: TierName) -> None:
        """Log and observe a change of ``tier``'s rotation, once. A circuit that reopens after a
        failed trial (half-open, then open again) was never reported back, so it is no change."""
        up = self.available(tier)
        if up == self._in_rotation[tier]:
            return
        self._in_rotation[tier] = up
        if up:
            log.warning("tier %s is back in rotation", tier)
        else:
            log.warning("tier %s is out of rotation: %s", tier, self.reason(tier))
        if self._observer is not None:
            self._observer(tier, up)

    # ----------------------------------------------------------------------------- checks
    async def check_once(self) -> None:
        """Check every tier now, concurrently."""
        await asyncio.gather(*(self._check(tier) for tier in self._tiers))

    async def _check(self, tier: TierName) -> None:
        error = await health_check(self._workers[tier], self._timeout)
        self._not_ready[tier] = None if error is None else str(error)
        self._checked[tier] = True
        if error is None:
            self.record_success(tier)
        else:
            self.record_failure(tier, error)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="routet2i-tier-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # a bug in a check must not stop the checker
                log.exception("health check failed")
            await asyncio.sleep(self._interval)
