"""Checkpoint inference: prompts → D̂ per metric and PRŜ, from a checkpoint and its encoder.

A :class:`CheckpointPredictor` loads the checkpoint and its encoder once. It is the product's
implementation of the routing core's predictor port (:class:`routet2i.routing.ports.PredictorPort`):
:meth:`~CheckpointPredictor.predict` gives one :class:`~routet2i.types.Prediction` per prompt,
:meth:`~CheckpointPredictor.calibrated_threshold` α for a cloud share from the checkpoint's
calibration, :meth:`~CheckpointPredictor.describe` what the checkpoint is.
:meth:`~CheckpointPredictor.scores` gives the same PRŜ and D̂ as arrays (calibration, evaluation).
Which tier a PRŜ sends a prompt to is decided in :mod:`routet2i.routing` only.

Metric weights: PRŜ = Σ_i w_i D̂_i (DESIGN §1). By default w is the checkpoint's own (those it
was trained and calibrated with); ``metric_weights`` (name → weight, renormalised; unnamed metrics
weigh 0) routes for other preferences, e.g. ``{"alignment": 1}`` for a deployment judged on
alignment alone. The predictor's D̂ do not depend on w, so no retraining is needed, but a stored
calibration only applies to the weights it was made with: with other weights the predictor is
uncalibrated until ``routet2i calibrate --weights …`` is run.

Thread safety: every public method may be called from any thread (typically one dedicated worker
thread of the gateway); a lock serialises the forward passes. Inference runs under
``torch.inference_mode``; nothing is trained.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routet2i.encoders.base import TextEncoder, mean_pool
from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor.calibration import Calibration
from routet2i.predictor.checkpoint import CheckpointMeta, default_checkpoint_dir, load_checkpoint
from routet2i.predictor.correction import Correction
from routet2i.superiority import FloatArray, weights_for
from routet2i.types import Prediction

log = logging.getLogger("routet2i.predictor")


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_checkpoint(path: str | Path | None) -> Path:
    """``path``, or the packaged default checkpoint; a missing one is a clear :class:`CheckpointError`."""
    if path is not None:
        return Path(path)
    default = default_checkpoint_dir()
    if not (default / "config.json").is_file():
        raise CheckpointError(
            f"no checkpoint given and no packaged default router at {default}; train one with "
            "`routet2i train ... --out DIR` and pass --checkpoint DIR"
        )
    return default


def routing_weights(metrics: Sequence[str], weights: Mapping[str, float]) -> FloatArray:
    """``weights`` (name → weight) as an array in the order of ``metrics``, summing to 1; unknown
    names, negative values or all zeros are a :class:`ConfigError` that names the metrics."""
    try:
        return weights_for(list(metrics), dict(weights))
    except ValueError as exc:
        raise ConfigError(f"metric weights {dict(weights)}: {exc} (the checkpoint predicts {list(metrics)})") from None


def _describe_weights(metrics: Sequence[str], w: FloatArray) -> str:
    return ", ".join(f"{m}={v:.3g}" for m, v in zip(metrics, w.tolist(), strict=True))


class CheckpointPredictor:
    """PRŜ and D̂ from a predictor checkpoint (see the module docstring).

    ``checkpoint``: the folder (None: the packaged default). ``device``: torch device for encoder
    and predictor (``auto``: cuda when there is one). ``encoder``: an already loaded encoder to
    reuse (its spec must equal the checkpoint's). ``batch_size``: prompts per forward pass. ``num_threads``: if given, set torch's
    intra-op thread count (process-wide!) — 1 gives the lowest single-prompt latency on a busy
    CPU host (docs/ROUTER.md has the figures). ``metric_weights``: route for these metric
    weights instead of the checkpoint's (see the module docstring).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        device: str = "cpu",
        encoder: TextEncoder | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        metric_weights: Mapping[str, float] | None = None,
    ) -> None:
        from routet2i.encoders.loading import load_encoder

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_threads is not None:
            import torch

            torch.set_num_threads(num_threads)
        device = resolve_device(device)
        path = resolve_checkpoint(checkpoint)
        loaded = load_checkpoint(path, encoder=encoder.spec if encoder is not None else None, device=device)
        self.path = path
        self.meta: CheckpointMeta = loaded.meta
        self.model = loaded.model
        self.encoder = encoder if encoder is not None else load_encoder(self.meta.encoder, device)
        if self.encoder.dim != self.meta.architecture.d_model:
            raise CheckpointError(
                f"{path}: encoder {self.meta.encoder!r} gives width {self.encoder.dim}, the predictor "
                f"expects {self.meta.architecture.d_model}"
            )
        self.device = device
        self.batch_size = batch_size
        own = np.asarray(self.meta.metric_weights, dtype=np.float64)
        self.weights: FloatArray = own if metric_weights is None else routing_weights(self.metrics, metric_weights)
        if not np.allclose(self.weights, own):
            if not self.model.config.per_metric_heads:
                raise CheckpointError(f"{path}: a single-PRS-head checkpoint predicts no D̂ to reweight by metric")
            import torch

            # the model computes PRŜ = D̂ · w with this (non-persistent) buffer: one place for the sum
            with torch.no_grad():
                self.model.metric_weights.copy_(torch.as_tensor(self.weights, dtype=self.model.metric_weights.dtype))
        stored = Calibration.from_dict(self.meta.calibration) if self.meta.calibration else None
        #: why a stored calibration does not apply (None when it does, or there is none).
        self.calibration_note: str | None = None
        if stored is not None:
            made_with = own if stored.metric_weights is None else routing_weights(self.metrics, stored.metric_weights)
            if not np.allclose(made_with, self.weights):
                self.calibration_note = (
                    f"its calibration was made with metric weights {_describe_weights(self.metrics, made_with)}, "
                    f"not {_describe_weights(self.metrics, self.weights)}"
                )
                stored = None
        self.calibration: Calibration | None = stored
        self.correction: Correction | None = (
            None
            if self.meta.correction is None
            else Correction.from_dict(self.meta.correction, dim=self.encoder.dim, source=f"{path}: correction")
        )
        self._lock = threading.Lock()

    @property
    def metrics(self) -> list[str]:
        return list(self.meta.metrics)

    @property
    def metric_weights(self) -> dict[str, float]:
        """The weights PRŜ is computed with (name → weight, summing to 1)."""
        return dict(zip(self.metrics, self.weights.tolist(), strict=True))

    @property
    def encoder_spec(self) -> str:
        return self.meta.encoder

    def threshold_for_budget(self, budget: float) -> float:
        """α for a cloud-share budget from the stored calibration (quantiles interpolated,
        clamped to ≤ 0.5). Without a calibration: a :class:`CheckpointError`."""
        if self.calibration is None:
            why = f" for these metric weights ({self.calibration_note})" if self.calibration_note else ""
            again = " --weights " + ",".join(f"{k}={v:.6g}" for k, v in self.metric_weights.items()) if why else ""
            target = self.path
            copy = ""
            if self.path.resolve() == default_checkpoint_dir().resolve():
                target = Path("my-router")
                copy = f"copy the packaged router (`cp -r {self.path} {target}`) and "
            raise CheckpointError(
                f"{self.path} is not calibrated{why}; {copy}run `routet2i calibrate --checkpoint {target}{again} "
                "--prompts FILE --budget SHARE`"
            )
        return self.calibration.threshold_for_budget(budget)

    def scores(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(PRŜ (P,), D̂ (P, N) or None for a single-PRS-head checkpoint). A checkpoint with a
        learned correction serves the corrected PRŜ (:mod:`routet2i.predictor.correction`)."""
        import torch

        from routet2i.predictor.prompt_features import prompt_feature_tensor

        cues = self.model.config.prompt_features
        items = list(prompts)
        if not items:
            return np.zeros(0), None
        prs: list[np.ndarray] = []
        d_hat: list[np.ndarray] = []
        with self._lock, torch.inference_mode():
            for s in range(0, len(items), self.batch_size):
                chunk = items[s : s + self.batch_size]
                enc = self.encoder.encode(chunk)
                feats = prompt_feature_tensor(chunk, cues).to(self.device) if cues else None
                out = self.model(enc.states.to(self.device), enc.mask.to(self.device), feats)
                chunk_prs = out.prs.double().cpu().numpy()
                if self.correction is not None:
                    pooled = torch.nn.functional.normalize(mean_pool(enc.states, enc.mask), dim=-1)
                    chunk_prs = self.correction.corrected_prs(chunk_prs, pooled.double().cpu().numpy())
                prs.append(chunk_prs)
                if out.d_hat is not None:
                    d_hat.append(out.d_hat.double().cpu().numpy())
        return np.concatenate(prs), (np.concatenate(d_hat) if d_hat else None)

    # ----------------------------------------------------------------------------- the predictor port
    def predict(self, prompts: Sequence[str]) -> list[Prediction]:
        """One :class:`~routet2i.types.Prediction` (PRŜ and D̂ by metric name) per prompt, in order."""
        prs, d_hat = self.scores(prompts)
        names = self.metrics
        out: list[Prediction] = []
        for i, p in enumerate(prs.tolist()):
            metrics = {} if d_hat is None else dict(zip(names, d_hat[i].tolist(), strict=True))
            out.append(Prediction(float(p), metrics))
        return out

    def calibrated_threshold(self, cloud_share: float) -> float | None:
        """α for a cloud share from the checkpoint's calibration; None when it has none (for
        these metric weights)."""
        if self.calibration is None:
            return None
        return self.calibration.threshold_for_budget(cloud_share)

    def describe(self) -> dict[str, Any]:
        """What the checkpoint is: folder, encoder, metrics and weights, training data, device."""
        meta = self.meta
        calibration = self.calibration
        training = meta.training
        return {
            "checkpoint": str(self.path),
            "encoder": meta.encoder,
            "metrics": list(meta.metrics),
            "metric_weights": self.metric_weights,
            "gamma": meta.gamma,
            "code_version": meta.code_version,
            "training": {k: training[k] for k in ("data_id", "seed", "pairs") if k in training},
            "calibration": None
            if calibration is None
            else {"prompts_id": calibration.prompts_id, "n_prompts": calibration.n_prompts},
            "device": self.device,
        }

    def warn_if_uncalibrated(self) -> None:
        """Log why α cannot start from a calibration (serving then starts at 0.5, live after)."""
        if self.calibration is None:
            log.warning(
                "checkpoint %s has no calibration%s: the threshold starts at 0.5 and follows live traffic "
                "once the budget window is warm",
                self.path,
                f" for these metric weights ({self.calibration_note})" if self.calibration_note else "",
            )
