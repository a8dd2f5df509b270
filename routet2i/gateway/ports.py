"""What the gateway needs from the router and from the image workers.

The gateway is written against these two protocols. The product implementations are
:class:`routet2i.gateway.engine.RouterEngine` (the trained predictor behind
:class:`routet2i.routing.router.Router`) and :class:`routet2i.workers.client.WorkerClient` (over
HTTP, or in-process through an ASGI transport for ``routet2i serve``).
Worker failures are the typed exceptions of :mod:`routet2i.workers.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from routet2i.workers.schemas import GenerateRequest, GenerateResponse


@dataclass(frozen=True)
class Prediction:
    """The router's prediction for one prompt: PRŜ ∈ (0, 1) and D̂ per metric."""

    prs: float
    metrics: Mapping[str, float] = field(default_factory=dict)


class DecisionEngine(Protocol):
    """The router model. ``predict`` is called from one dedicated thread only (it may hold a
    GPU model), with micro-batches of concurrent requests' prompts."""

    def predict(self, prompts: list[str]) -> list[Prediction]:
        """PRŜ and D̂ for each prompt, in order."""
        ...

    def threshold_for_budget(self, cloud_share: float) -> float | None:
        """α from the checkpoint's calibration for a cloud share ρ ∈ [0, 1] (None: the
        checkpoint is not calibrated)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the checkpoint is (encoder, metrics, training data), for ``GET /v1/models``."""
        ...


class ImageWorker(Protocol):
    """One tier's image worker (:class:`routet2i.workers.client.WorkerClient` fits as it is)."""

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        """Images for ``request`` within ``timeout`` seconds, or a
        :class:`~routet2i.workers.errors.WorkerError` subclass."""
        ...

    async def ready(self) -> bool:
        """Whether the worker is up with its model loaded (False when unreachable)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
