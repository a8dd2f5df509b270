"""What the dispatcher decided for one request: the one record every answer is built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from routet2i.routing.budget import BudgetState, Verdict
from routet2i.types import CapKind, FallbackCause, Prediction, Reason, ThresholdSource, TierName
from routet2i.workers.schemas import GenerateResponse


@dataclass(frozen=True)
class RouteDecision:
    """Where a request went and why (the HTTP layer maps it to ``routing`` and the
    ``X-Routet2i-*`` headers; ``POST /v1/route`` to its decisions).

    ``prs`` is PRŜ (> 0.5: the cheap tier is predicted better), ``metrics`` D̂ per metric,
    ``threshold`` α (PRŜ < α → the expensive tier), ``budget`` the budget as it stood when the
    answer was made, ``cap`` which budget blocked the expensive tier, ``router_ms`` the routing
    time (queue + encode + predict + decide).
    """

    tier: TierName
    reason: Reason
    wanted_tier: TierName
    forced: bool
    model: str
    prs: float | None
    metrics: Mapping[str, float]
    threshold: float
    threshold_source: ThresholdSource
    budget: BudgetState
    cap: CapKind | None
    router_ms: float
    fallback_from: TierName | None = None
    fallback_cause: FallbackCause | None = None
    #: The budget's handle of this request (-1 for a preview).
    ticket: int = field(default=-1, compare=False)

    @classmethod
    def of(
        cls,
        verdict: Verdict,
        prediction: Prediction | None,
        *,
        model: str,
        budget: BudgetState,
        router_ms: float,
        served_by: TierName | None = None,
        fallback_cause: FallbackCause | None = None,
    ) -> RouteDecision:
        """The decision for ``verdict`` (the budget's) on ``prediction`` (None: the router failed);
        ``served_by``: the tier a fallback moved the request to (with ``fallback_cause``)."""
        moved = served_by is not None and served_by != verdict.tier
        return cls(
            tier=served_by if served_by is not None and moved else verdict.tier,
            reason="fallback" if moved else verdict.reason,
            wanted_tier=verdict.wanted,
            forced=verdict.forced,
            model=model,
            prs=None if prediction is None else float(prediction.prs),
            metrics={} if prediction is None else {k: float(v) for k, v in prediction.metrics.items()},
            threshold=verdict.threshold,
            threshold_source=verdict.threshold_source,
            budget=budget,
            cap=verdict.cap,
            router_ms=router_ms,
            fallback_from=verdict.tier if moved else None,
            fallback_cause=fallback_cause if moved else None,
            ticket=verdict.ticket,
        )


@dataclass(frozen=True)
class Served:
    """A generation that succeeded."""

    response: GenerateResponse
    #: (width, height) in pixels sent to the tier that served it.
    size: tuple[int, int]
    decision: RouteDecision
    router_ms: float
    worker_ms: float
    total_ms: float
