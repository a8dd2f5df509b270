"""The product's predictor loader: wires the trained checkpoint (``predictor/``) into the routing
core's predictor port. Importing this module loads nothing heavy; calling the loader imports torch
and the encoder."""

from __future__ import annotations

from pathlib import Path

from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.ports import PredictorPort
from routet2i.routing.reload import PredictorLoader


def product_loader(settings: GatewaySettings) -> PredictorLoader:
    """A :class:`~routet2i.predictor.inference.CheckpointPredictor` with the gateway's device,
    backend, batch size and metric weights, for a checkpoint folder (None: the packaged default)."""

    def load(checkpoint: Path | None) -> PredictorPort:
        from routet2i.predictor.inference import CheckpointPredictor

        predictor = CheckpointPredictor(
            checkpoint,
            device=settings.router.device,
            batch_size=settings.router.max_batch,
            metric_weights=settings.router.metric_weights,
            backend=settings.router.backend,
        )
        predictor.warn_if_uncalibrated()
        return predictor

    return load
