"""The tiers a deployment routes between, by name, cheapest first.

This is the one place that knows which tier is "the cheap one" and which "the expensive one":
the routing rule sends a prompt to :attr:`Tiers.expensive` iff PRŜ < α and to :attr:`Tiers.cheap`
otherwise (PRŜ is the predicted superiority of the cheap tier over the expensive one), the budget
caps the expensive tier, and a request with no prediction goes to the cheap tier. The names come
from the gateway's ``tiers`` settings (``edge`` and ``cloud`` by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from routet2i.types import DEFAULT_TIERS, TierName


@dataclass(frozen=True)
class Tiers:
    """Tier names ordered by price, cheapest first. The routing policy of this version is the
    paper's two-tier rule, so there are exactly two."""

    names: tuple[TierName, ...] = DEFAULT_TIERS

    def __post_init__(self) -> None:
        if len(self.names) != 2:
            raise ValueError(
                f"routing needs exactly two tiers (a cheap one, then an expensive one), got {list(self.names)}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"tier names must be distinct, got {list(self.names)}")
        for name in self.names:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"tier name {name!r} must be letters, digits, '-' or '_'")

    @classmethod
    def of(cls, names: Iterable[TierName]) -> Tiers:
        return cls(tuple(names))

    @property
    def cheap(self) -> TierName:
        """The cheapest tier: the safe default, never capped by the budget."""
        return self.names[0]

    @property
    def expensive(self) -> TierName:
        """The most expensive tier: the one the budget caps and PRŜ is measured against."""
        return self.names[-1]

    def other(self, tier: TierName) -> TierName:
        """The tier a request on ``tier`` falls back to."""
        self.check(tier)
        return self.names[1] if tier == self.names[0] else self.names[0]

    def check(self, tier: TierName) -> TierName:
        if tier not in self.names:
            raise KeyError(f"no tier named {tier!r}; the tiers are {list(self.names)}")
        return tier

    def __iter__(self) -> Iterator[TierName]:
        return iter(self.names)

    def __contains__(self, tier: object) -> bool:
        return tier in self.names

    def __len__(self) -> int:
        return len(self.names)
