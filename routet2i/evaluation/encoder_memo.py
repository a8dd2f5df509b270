"""One frozen encoder per spec for a whole evaluation run, each prompt encoded once.

An evaluation retrains routers per fold and per pair on overlapping prompts; the encoder is
frozen, so a prompt's token states never change. :class:`MemoEncoder` wraps a loaded
:class:`~routet2i.encoders.base.TextEncoder` and keeps every prompt's real-token states, so the
predictor's training (which takes an encoder) and the sentence embeddings of the learned
baselines all reuse them. :class:`EncoderPool` loads each spec once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from routet2i.encoders.base import Encoding, TextEncoder, require_prompts

if TYPE_CHECKING:
    import torch


class MemoEncoder(TextEncoder):
    """``inner`` with a per-prompt memory of its token states (same spec, dim, limits)."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.device = inner.device
        self._memo: dict[str, torch.Tensor] = {}

    def encode(self, prompts: Sequence[str]) -> Encoding:
        from routet2i.predictor.token_cache import pad_states

        batch = require_prompts(prompts)
        missing = [p for p in dict.fromkeys(batch) if p not in self._memo]
        if missing:
            enc = self.inner.encode(missing)
            for p, t in zip(missing, enc.unpadded(), strict=True):
                self._memo[p] = t.detach().to("cpu").clone()
        states, mask = pad_states([self._memo[p] for p in batch])
        return Encoding(states=states, mask=mask, pooled=None)

    def tokens(self, prompt: str) -> list[str]:
        return self.inner.tokens(prompt)


@dataclass
class EncoderPool:
    """Loads each encoder spec once (on ``device``) and hands out its :class:`MemoEncoder`."""

    device: str = "cpu"
    _encoders: dict[str, MemoEncoder] = field(default_factory=dict)

    def get(self, spec: str) -> MemoEncoder:
        from routet2i.encoders.loading import load_encoder
        from routet2i.encoders.spec import EncoderSpec

        key = str(EncoderSpec.parse(spec))
        if key not in self._encoders:
            self._encoders[key] = MemoEncoder(load_encoder(spec, device=self.device))
        return self._encoders[key]
