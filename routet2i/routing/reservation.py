"""One recorded decision as the budget accounts for it, from the decision until it is settled."""

from __future__ import annotations

from dataclasses import dataclass

from routet2i.types import TierName


@dataclass(eq=False)
class Bucket:
    """A slice of the money period: the spend and requests recorded in it. ``alive`` turns False
    when the slice leaves the period (its spend no longer counts)."""

    start: float
    cost: float = 0.0
    count: int = 0
    alive: bool = True


@dataclass(eq=False)
class Reservation:
    """A decision held by the budget: where it counts (``tier``; None once released: it produced
    nothing), what it costs, and the quotes it was decided with."""

    ticket: int
    #: The PRŜ decided on (None without a prediction); only automatic decisions sample it.
    prs: float | None
    forced: bool
    tier: TierName | None
    cost: float
    cheap_quote: float
    expensive_quote: float
    bucket: Bucket
    #: Still among the last ``window`` decisions.
    in_window: bool = True
    #: Its PRŜ came from a router replaced since: not part of the live PRŜ sample.
    stale: bool = False
