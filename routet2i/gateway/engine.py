"""The product's :class:`~routet2i.gateway.ports.DecisionEngine`: the trained router.

Wraps :class:`routet2i.routing.router.Router` (checkpoint + encoder, loaded once). Its
``predict`` is only ever called from the gateway's router thread. Importing this module loads
nothing heavy; :meth:`RouterEngine.load` imports torch and the encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routet2i.gateway.ports import Prediction

if TYPE_CHECKING:
    from routet2i.routing.router import Router

log = logging.getLogger("routet2i.gateway")


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class RouterEngine:
    """PRŜ and D̂ from a :class:`~routet2i.routing.router.Router`."""

    def __init__(self, router: Router) -> None:
        self.router = router
        if router.calibration is None:
            log.warning(
                "checkpoint %s has no calibration%s: the threshold starts at 0.5 and follows live traffic "
                "once the budget window is warm",
                router.path,
                f" for these metric weights ({router.calibration_note})" if router.calibration_note else "",
            )

    @classmethod
    def load(
        cls,
        checkpoint: str | Path | None,
        *,
        device: str = "auto",
        batch_size: int = 64,
        metric_weights: Mapping[str, float] | None = None,
    ) -> RouterEngine:
        """Load the checkpoint (None: the packaged default) and its encoder on ``device``."""
        from routet2i.routing.router import Router

        return cls(
            Router(checkpoint, device=resolve_device(device), batch_size=batch_size, metric_weights=metric_weights)
        )

    def predict(self, prompts: list[str]) -> list[Prediction]:
        prs, d_hat = self.router.predict(prompts)
        names = self.router.metrics
        out: list[Prediction] = []
        for i, p in enumerate(prs.tolist()):
            metrics = {} if d_hat is None else dict(zip(names, d_hat[i].tolist(), strict=True))
            out.append(Prediction(float(p), metrics))
        return out

    def threshold_for_budget(self, cloud_share: float) -> float | None:
        if self.router.calibration is None:
            return None
        return self.router.threshold_for_budget(cloud_share)

    def describe(self) -> dict[str, Any]:
        meta = self.router.meta
        calibration = self.router.calibration
        training = meta.training
        return {
            "checkpoint": str(self.router.path),
            "encoder": meta.encoder,
            "metrics": list(meta.metrics),
            "metric_weights": self.router.metric_weights,
            "gamma": meta.gamma,
            "code_version": meta.code_version,
            "training": {k: training[k] for k in ("data_id", "seed", "pairs") if k in training},
            "calibration": None
            if calibration is None
            else {"prompts_id": calibration.prompts_id, "n_prompts": calibration.n_prompts},
            "device": self.router.device,
        }
