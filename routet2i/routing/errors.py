"""Why the dispatcher could not serve a request. The HTTP layer maps each to its answer in one
place (:mod:`routet2i.gateway.errors`); each carries the decision once one was made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from routet2i.errors import Routet2iError
from routet2i.workers.errors import WorkerError

if TYPE_CHECKING:
    from routet2i.routing.decision import RouteDecision


class RoutingError(Routet2iError):
    """Base: ``retry_after`` (seconds) where waiting helps; ``decision`` once one was made."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.decision: RouteDecision | None = None


class GatewayBusy(RoutingError):
    """Too many requests in flight (429)."""


class BudgetExhausted(RoutingError):
    """A forced request for the expensive tier when its budget is spent (429)."""


class BudgetUnavailable(RoutingError):
    """The shared budget store cannot be reached and the request needs the expensive tier (503):
    nothing is sent to it without a reservation."""


class TierUnavailable(RoutingError):
    """The chosen tier is out of rotation and no fallback is allowed or possible (503)."""


class DeadlinePassed(RoutingError):
    """The request's deadline passed before it was served (504)."""


class TierFailed(RoutingError):
    """The tier's worker failed (``error``; no fallback allowed or left)."""

    def __init__(self, tier: str, error: WorkerError, *, retry_after: float | None = None) -> None:
        super().__init__(str(error), retry_after=retry_after)
        self.tier = tier
        self.error = error


class ReloadError(RoutingError):
    """A router reload failed; the old router keeps serving. ``field``: the request field to
    blame, if one is. ``outcome`` is its label in ``router_reloads_total``, ``error_type`` its
    machine-readable kind (also the ``type`` of the HTTP error)."""

    outcome = "error"
    error_type = "reload_failed"

    def __init__(self, message: str, *, field: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.field = field


class CheckpointNotFound(ReloadError):
    outcome, error_type = "not_found", "checkpoint_not_found"


class InvalidCheckpoint(ReloadError):
    outcome, error_type = "invalid_checkpoint", "invalid_checkpoint"


class ReloadInProgress(ReloadError):
    outcome, error_type = "in_progress", "reload_in_progress"


class ReloadFailed(ReloadError):
    outcome, error_type = "error", "reload_failed"
