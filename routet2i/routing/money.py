"""The money ledger: spend and requests over a sliding period of ``period_s`` seconds.

The period is kept in :data:`BUCKETS` slices; spend is kept conservatively: a slice leaves the
period only when all of it is older than ``period_s``. Pure: every call takes ``now`` (seconds on
a monotonic clock).
"""

from __future__ import annotations

from collections import deque

from routet2i.routing.reservation import Bucket, Reservation

#: How finely the money period is sliced (slices per period).
BUCKETS = 512


class MoneyLedger:
    """Spend over the last ``period_s`` seconds (see the module docstring)."""

    def __init__(self) -> None:
        self._buckets: deque[Bucket] = deque()
        #: Quoted cost of the decisions in the period (currency of the prices).
        self.spent = 0.0
        #: Decisions recorded in the period.
        self.requests = 0
        #: When the first decision was recorded (None before; set by the budget controller).
        self.started: float | None = None

    def expire(self, now: float, period_s: float) -> None:
        """Drop the slices wholly older than the period."""
        width = period_s / BUCKETS
        while self._buckets and self._buckets[0].start + width <= now - period_s:
            old = self._buckets.popleft()
            old.alive = False
            self.spent -= old.cost
            self.requests -= old.count
        if not self._buckets:
            self.spent = 0.0
            self.requests = 0

    def bucket(self, now: float, period_s: float) -> Bucket:
        """The slice a decision made at ``now`` goes into."""
        width = period_s / BUCKETS
        if self._buckets and now < self._buckets[-1].start + width:
            return self._buckets[-1]
        bucket = Bucket(start=now)
        self._buckets.append(bucket)
        return bucket

    def add(self, entry: Reservation) -> None:
        """Record ``entry``'s cost in its slice."""
        entry.bucket.cost += entry.cost
        entry.bucket.count += 1
        self.spent += entry.cost
        self.requests += 1

    def refundable(self, entry: Reservation) -> float:
        """What moving ``entry`` elsewhere would give back: its cost while it is in the period."""
        return entry.cost if entry.bucket.alive else 0.0

    def reprice(self, entry: Reservation, cost: float) -> None:
        """``entry`` costs ``cost`` from now on (the difference counts while it is in the period)."""
        if entry.bucket.alive:
            entry.bucket.cost += cost - entry.cost
            self.spent += cost - entry.cost
        entry.cost = cost
