"""What the routing core needs from the router model and from the image workers.

The core is written against these two protocols (dependency inversion: ``routing`` never imports
the predictor). The product implementations are :class:`routet2i.predictor.inference.CheckpointPredictor`
(the trained predictor; wired in by the gateway's assembly) and
:class:`routet2i.workers.client.WorkerClient` (over HTTP, or in-process through an ASGI transport
for ``routet2i serve``). Worker failures are the typed exceptions of :mod:`routet2i.workers.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from routet2i.types import Prediction
from routet2i.workers.schemas import GenerateRequest, GenerateResponse


class PredictorPort(Protocol):
    """The predictor port: the router model. ``predict`` is called from one dedicated thread only
    (it may hold a GPU model), with micro-batches of concurrent requests' prompts."""

    def predict(self, prompts: Sequence[str]) -> list[Prediction]:
        """PRŜ and D̂ for each prompt, in order."""
        ...

    def calibrated_threshold(self, cloud_share: float) -> float | None:
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


@runtime_checkable
class ReadinessProbe(Protocol):
    """An :class:`ImageWorker` that can also say why it is not ready (the health checks keep
    the reason with the tier's state; a worker without it reports "not ready" only)."""

    async def why_not_ready(self) -> str | None:
        """None when ready; else why not, in the worker's own words."""
        ...
