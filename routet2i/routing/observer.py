"""What the dispatcher reports as it works (the gateway's Prometheus metrics implement it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from routet2i.routing.budget import BudgetState
from routet2i.types import FallbackCause, Prediction, Reason, TierName


class RoutingObserver(Protocol):
    """Callbacks of the routing core; each is cheap and never raises."""

    def tier_changed(self, tier: TierName, up: bool) -> None:
        """A tier went out of rotation (``up`` False) or came back."""

    def router_called(self, seconds: float, predictions: Sequence[Prediction | None], failed: bool) -> None:
        """One request's routing took ``seconds`` (queue + encode + predict)."""

    def batch_ran(self, prompts: int, requests: int, seconds: float) -> None:
        """The router ran one micro-batch."""

    def cache_looked_up(self, hits: int, misses: int) -> None:
        """One routing call found ``hits`` prompts' predictions in the cache and ran ``misses``."""

    def decided(self, tier: TierName, reason: Reason) -> None:
        """A generation request was decided."""

    def fell_back(self, from_tier: TierName, to_tier: TierName, cause: FallbackCause) -> None:
        """A request moved to another tier."""

    def worker_failed(self, tier: TierName, error_type: str) -> None:
        """A worker call failed."""

    def worker_served(self, tier: TierName, seconds: float) -> None:
        """A worker call succeeded."""

    def budget_read(self, state: BudgetState) -> None:
        """The budget's state was read (gauges follow it)."""

    def reload_finished(self, outcome: str) -> None:
        """A router reload ended with ``outcome``."""

    def shadow_skipped(self, reason: str) -> None:
        """A served request was not shadowed, for ``reason`` (:data:`~routet2i.routing.shadow.SHADOW_SKIPS`)."""

    def shadow_finished(self, tier: TierName, outcome: str) -> None:
        """A shadow generation on ``tier`` ended with ``outcome`` (:data:`~routet2i.routing.shadow.SHADOW_OUTCOMES`)."""

    def replica_finished(self, tier: TierName, replica: str, outcome: str) -> None:
        """One call to the replica at base URL ``replica`` of ``tier`` ended: ``outcome`` is
        ``served`` or the worker error's ``error_type`` (:mod:`routet2i.routing.replicas`)."""

    def replica_load(self, tier: TierName, replica: str, in_flight: int) -> None:
        """``in_flight`` requests are outstanding on that replica now."""

    def replica_changed(self, tier: TierName, replica: str, up: bool) -> None:
        """That replica went out of its tier's rotation (``up`` False) or came back."""


class NullObserver:
    """Reports nothing."""

    def tier_changed(self, tier: TierName, up: bool) -> None:
        pass

    def router_called(self, seconds: float, predictions: Sequence[Prediction | None], failed: bool) -> None:
        pass

    def batch_ran(self, prompts: int, requests: int, seconds: float) -> None:
        pass

    def cache_looked_up(self, hits: int, misses: int) -> None:
        pass

    def decided(self, tier: TierName, reason: Reason) -> None:
        pass

    def fell_back(self, from_tier: TierName, to_tier: TierName, cause: FallbackCause) -> None:
        pass

    def worker_failed(self, tier: TierName, error_type: str) -> None:
        pass

    def worker_served(self, tier: TierName, seconds: float) -> None:
        pass

    def budget_read(self, state: BudgetState) -> None:
        pass

    def reload_finished(self, outcome: str) -> None:
        pass

    def shadow_skipped(self, reason: str) -> None:
        pass

    def shadow_finished(self, tier: TierName, outcome: str) -> None:
        pass

    def replica_finished(self, tier: TierName, replica: str, outcome: str) -> None:
        pass

    def replica_load(self, tier: TierName, replica: str, in_flight: int) -> None:
        pass

    def replica_changed(self, tier: TierName, replica: str, up: bool) -> None:
        pass
