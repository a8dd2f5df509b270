"""The share window: the last ``window`` decisions, what share of them the expensive tier took,
and the live PRŜ sample the threshold is a quantile of.

Pure bookkeeping (no clock, no policy): :class:`~routet2i.routing.budget.BudgetController` pushes
every recorded decision, moves it when it is served elsewhere (a fallback) or releases it, and
reads the counts to enforce the share cap and to set α.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from routet2i.routing.reservation import Reservation
from routet2i.types import TierName


class ShareWindow:
    """Counts over the last decisions (see the module docstring). ``expensive``: the tier whose
    share is capped."""

    def __init__(self, expensive: TierName) -> None:
        self._expensive = expensive
        self._entries: deque[Reservation] = deque()
        self._auto_prs: list[float] = []  # sorted PRŜ of the automatic decisions in the window
        #: Automatic decisions in the window whose PRŜ came from a replaced router.
        self.stale_auto = 0
        #: Decisions in the window on the expensive tier, and the forced ones among them.
        self.expensive = 0
        self.forced_expensive = 0
        self._cheap_quotes = 0.0
        self._expensive_quotes = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def live_samples(self) -> int:
        """PRŜ values of the live router among the automatic decisions in the window."""
        return len(self._auto_prs)

    def prs_value(self, rank: int) -> float:
        """The live PRŜ at ``rank`` (0: the smallest) of the sorted live sample."""
        return self._auto_prs[rank]

    def quote_sums(self) -> tuple[float, float]:
        """Sums of the quoted (cheap, expensive) cost of the decisions in the window."""
        return self._cheap_quotes, self._expensive_quotes

    def expensive_after_one_more(self, size: int, replacing: Reservation | None) -> int:
        """Expensive decisions in the window once one more expensive image is in: a new decision
        (``replacing`` None; the oldest leaves a full window of ``size``) or ``replacing``'s
        place (a fallback: it counts only while it is still in the window)."""
        after = self.expensive + 1
        if replacing is None:
            if len(self._entries) >= size and self._entries[0].tier == self._expensive:
                after -= 1  # the oldest decision leaves the window when this one enters
        elif not replacing.in_window:
            after -= 1
        return after

    def push(self, entry: Reservation, size: int) -> None:
        """Record a new decision; the window then keeps the last ``size``."""
        self._entries.append(entry)
        if entry.tier == self._expensive:
            self.expensive += 1
            self.forced_expensive += entry.forced
        if entry.prs is not None and not entry.forced:
            if entry.stale:
                self.stale_auto += 1
            else:
                insort(self._auto_prs, entry.prs)
        self._cheap_quotes += entry.cheap_quote
        self._expensive_quotes += entry.expensive_quote
        self.trim(size)

    def trim(self, size: int) -> None:
        """Drop the oldest decisions beyond ``size``."""
        while len(self._entries) > size:
            old = self._entries.popleft()
            old.in_window = False
            if old.tier == self._expensive:
                self.expensive -= 1
                self.forced_expensive -= old.forced
            if old.prs is not None and not old.forced:
                if old.stale:
                    self.stale_auto -= 1
                else:
                    del self._auto_prs[bisect_left(self._auto_prs, old.prs)]
            self._cheap_quotes -= old.cheap_quote
            self._expensive_quotes -= old.expensive_quote
        if not self._entries:  # keep float sums from drifting
            self._cheap_quotes = self._expensive_quotes = 0.0

    def move(self, entry: Reservation, tier: TierName | None) -> None:
        """Count ``entry`` on ``tier`` from now on (None: it produced nothing); counts change only
        while it is in the window."""
        if entry.in_window:
            if entry.tier == self._expensive:
                self.expensive -= 1
                self.forced_expensive -= entry.forced
            if tier == self._expensive:
                self.expensive += 1
                self.forced_expensive += entry.forced

    def mark_stale(self) -> None:
        """A new router is live: the PRŜ in the window leave the live sample (they are counted,
        as stale, in the share the automatic requests may use)."""
        for entry in self._entries:
            if entry.prs is not None and not entry.forced and not entry.stale:
                entry.stale = True
                self.stale_auto += 1
        self._auto_prs.clear()
