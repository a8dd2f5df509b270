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

Backends (:mod:`routet2i.predictor.backends`): ``torch`` (fp32, the reference and the default
here, for training, calibration and evaluation), ``int8``, ``onnx`` and ``onnx-int8`` (CPU; the
gateway's ``router.backend`` picks one, by default the fastest that keeps decisions unchanged).

Thread safety: every public method may be called from any thread (typically one dedicated worker
thread of the gateway); a lock serialises the forward passes. Inference runs under
``torch.inference_mode`` or in ONNX Runtime; nothing is trained.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routet2i.encoders.base import TextEncoder
from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor.backends import CPU_ONLY_BACKENDS, Backend, parse_backend
from routet2i.predictor.calibration import Calibration
from routet2i.predictor.checkpoint import CheckpointMeta, default_checkpoint_dir, load_checkpoint
from routet2i.predictor.correction import Correction
from routet2i.predictor.runtime import Runtime
from routet2i.superiority import FloatArray, weights_for
from routet2i.types import Prediction

log = logging.getLogger("routet2i.predictor")


#: Most prompts in one forward pass. Prompts are sorted by length (characters) and run in passes
#: of at most this many (and ``batch_size``), each padded to its own longest prompt: a batch of 64
#: PartiPrompts in passes of 8–16 ran 1.5–2× faster than in one pass padded to its longest
#: (docs/PERFORMANCE.md); a pass of 16 short prompts costs little more than 8 single ones.
PASS_PROMPTS = 16


def resolve_device(device: str, backend: Backend = "torch") -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu`` (always ``cpu`` for a CPU-only
    backend); anything else as given."""
    if device != "auto":
        return device
    if backend in CPU_ONLY_BACKENDS:
        return "cpu"
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
    reuse (its spec must equal the checkpoint's). ``batch_size``: most prompts per forward pass (and
    at most :data:`PASS_PROMPTS`; a call's prompts are sorted by length into passes). ``num_threads``: if given, set torch's
    intra-op thread count (process-wide!) — 1 gives the lowest single-prompt latency on a busy
    CPU host (docs/ROUTER.md has the figures); the ONNX backends use as many ONNX Runtime
    threads (torch's current count when not given). ``metric_weights``: route for these metric
    weights instead of the checkpoint's (see the module docstring). ``backend``: how encoder and
    predictor run (:mod:`routet2i.predictor.backends`); an unknown name, or a CPU-only backend on
    another device, is a :class:`ConfigError`. ``onnx_cache``: where ONNX exports are kept
    (default :func:`routet2i.predictor.onnx_export.cache_dir`).
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
        backend: Backend | str = "torch",
        onnx_cache: Path | None = None,
    ) -> None:
        from routet2i.encoders.loading import load_encoder

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        try:
            self.backend: Backend = parse_backend(backend)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if num_threads is not None:
            import torch

            torch.set_num_threads(num_threads)
        device = resolve_device(device, self.backend)
        if self.backend in CPU_ONLY_BACKENDS and device != "cpu":
            raise ConfigError(
                f"router backend {self.backend!r} runs on the CPU, not on {device!r}: set the device to cpu "
                "(or auto), or use backend 'torch'"
            )
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
        #: One forward pass of the backend (no length buckets, no lock): ``runtime.run(prompts)``.
        self.runtime: Runtime = self._build_runtime(num_threads, onnx_cache)
        self._lock = threading.Lock()

    def _build_runtime(self, num_threads: int | None, onnx_cache: Path | None) -> Runtime:
        from routet2i.predictor.runtime import TorchRuntime

        with_embedding = self.correction is not None
        if self.backend == "torch":
            return TorchRuntime(self.encoder, self.model, self.device, with_embedding)
        from routet2i.encoders.hf import HFTextEncoder

        if not isinstance(self.encoder, HFTextEncoder):
            raise ConfigError(
                f"router backend {self.backend!r} supports the minilm and hf: encoders, not {self.meta.encoder!r}; "
                "use backend 'torch'"
            )
        if self.backend == "int8":
            from routet2i.encoders.quantised import int8_copy

            return TorchRuntime(int8_copy(self.encoder), self.model, self.device, with_embedding)
        import torch

        from routet2i.predictor.onnx_export import exported_router
        from routet2i.predictor.onnx_runtime import OnnxRuntime

        try:
            graph = exported_router(
                self.encoder, self.model, self.backend, with_embedding=with_embedding, directory=onnx_cache
            )
        except ImportError as exc:
            raise ConfigError(
                f"router backend {self.backend!r} needs onnx and onnxruntime, dependencies of routet2i ({exc}); "
                "reinstall routet2i (pip install -e .) or use backend 'torch'"
            ) from None
        threads = num_threads if num_threads is not None else torch.get_num_threads()
        return OnnxRuntime(graph, self.encoder, self.model, with_embedding=with_embedding, num_threads=threads)

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
        items = list(prompts)
        if not items:
            return np.zeros(0), None
        # length buckets: similar lengths in one forward pass, so a pass pads little
        order = sorted(range(len(items)), key=lambda i: len(items[i])) if len(items) > 1 else None
        ordered = items if order is None else [items[i] for i in order]
        step = min(self.batch_size, PASS_PROMPTS)
        prs: list[np.ndarray] = []
        d_hat: list[np.ndarray] = []
        with self._lock:
            for s in range(0, len(ordered), step):
                out = self.runtime.run(ordered[s : s + step])
                chunk_prs = out.prs
                if self.correction is not None:
                    assert out.embedding is not None
                    chunk_prs = self.correction.corrected_prs(chunk_prs, out.embedding)
                prs.append(chunk_prs)
                if out.d_hat is not None:
                    d_hat.append(out.d_hat)
        all_prs, all_d = np.concatenate(prs), (np.concatenate(d_hat) if d_hat else None)
        if order is not None:
            back = np.empty(len(order), dtype=np.intp)
            back[order] = np.arange(len(order))
            all_prs = all_prs[back]
            all_d = None if all_d is None else all_d[back]
        return all_prs, all_d

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
        """What the checkpoint is: folder, encoder, metrics and weights, training data, device, backend."""
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
            "backend": self.backend,
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
