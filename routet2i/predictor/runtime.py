"""One forward pass of the router, prompts → PRŜ, D̂ and (for a correction) sentence embeddings.

:func:`decision_tensors` is the computation after the encoder, written once: the PyTorch runtime
(:class:`TorchRuntime`, backends ``torch`` and ``int8``) calls it on the encoder's output, and the
ONNX export (:mod:`routet2i.predictor.onnx_export`) traces it into the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

    from routet2i.encoders.base import TextEncoder
    from routet2i.predictor.model import KeyTokenPredictor


@dataclass
class Scores:
    """A batch of B prompts through the router (N metrics, d the encoder's width)."""

    #: PRŜ (B,) float64, before any correction.
    prs: np.ndarray
    #: D̂ (B, N) float64; None for a single-PRS-head checkpoint.
    d_hat: np.ndarray | None
    #: L2-normalised mean of the real token states (B, d) float64, the input of a learned
    #: correction; None unless asked for.
    embedding: np.ndarray | None


class Runtime(Protocol):
    """Runs one batch (at most the predictor's batch size) of prompts; not thread-safe."""

    def run(self, prompts: Sequence[str]) -> Scores: ...


def decision_tensors(
    model: KeyTokenPredictor,
    states: torch.Tensor,
    mask: torch.Tensor,
    features: torch.Tensor | None,
    with_embedding: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(PRŜ (B,), D̂ (B, N) or None, embedding (B, d) or None) from token states (B, n, d) and
    their mask (B, n) bool; ``features``: the prompt-feature cues (B, F) when the model uses them."""
    from torch.nn import functional as F

    from routet2i.encoders.base import mean_pool

    out = model(states, mask, features)
    embedding = F.normalize(mean_pool(states, mask), dim=-1) if with_embedding else None
    return out.prs, out.d_hat, embedding


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float64)


class TorchRuntime:
    """The ``torch`` and ``int8`` backends: ``encoder.encode`` then :func:`decision_tensors`, under
    ``torch.inference_mode``."""

    def __init__(self, encoder: TextEncoder, model: KeyTokenPredictor, device: str, with_embedding: bool) -> None:
        self.encoder = encoder
        self.model = model
        self.device = device
        self.with_embedding = with_embedding

    def run(self, prompts: Sequence[str]) -> Scores:
        import torch

        from routet2i.predictor.prompt_features import prompt_feature_tensor

        cues = self.model.config.prompt_features
        with torch.inference_mode():
            enc = self.encoder.encode(prompts)
            feats = prompt_feature_tensor(prompts, cues).to(self.device) if cues else None
            prs, d_hat, embedding = decision_tensors(
                self.model, enc.states.to(self.device), enc.mask.to(self.device), feats, self.with_embedding
            )
        out_prs = _numpy(prs)
        assert out_prs is not None
        return Scores(prs=out_prs, d_hat=_numpy(d_hat), embedding=_numpy(embedding))
