"""The text-encoder interface: prompts → token states, attention mask, pooled vector.

Contract (checked for every implementation by ``tests/encoders/test_contract.py``):

- ``encode(prompts)`` returns an :class:`Encoding` with ``states`` (B, n, d) float32, ``mask``
  (B, n) bool, right-padded (every row is ``True`` for its first ``length`` positions, then
  ``False``), ``n`` the longest row of the batch, padded positions of ``states`` set to 0, and
  ``pooled`` (B, p) or None. Every row has at least one real token (special tokens count), so an
  empty prompt is fine.
- Deterministic; a prompt gives the same states alone or inside a batch (up to float rounding).
- Long prompts are truncated to ``max_tokens`` tokens (special tokens included): the first tokens
  are kept and the end-of-text token (``[SEP]``, ``<|endoftext|>``) stays last.
- The encoder is frozen (eval mode, no gradients); ``encode`` runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class Encoding:
    """Token states of a batch of prompts (see the module docstring for the contract)."""

    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor | None = None

    @property
    def lengths(self) -> list[int]:
        """Real tokens per prompt."""
        return [int(v) for v in self.mask.sum(dim=1).tolist()]

    def unpadded(self) -> list[torch.Tensor]:
        """Per prompt its (length, d) real token states (views, not copies)."""
        return [self.states[i, :n] for i, n in enumerate(self.lengths)]


class TextEncoder(ABC):
    """A frozen text encoder. Subclasses set ``spec``, ``dim``, ``max_tokens`` and ``device``."""

    #: The spec string it was loaded from (see :mod:`routet2i.encoders.spec`).
    spec: str
    #: d, the width of a token state.
    dim: int
    #: The most tokens a prompt keeps, special tokens included.
    max_tokens: int
    #: Where the model runs (``cpu``, ``cuda``, ``cuda:1``).
    device: str

    @abstractmethod
    def encode(self, prompts: Sequence[str]) -> Encoding:
        """Token states of ``prompts`` (a non-empty sequence)."""

    @abstractmethod
    def tokens(self, prompt: str) -> list[str]:
        """The tokens of ``prompt`` as the model sees them (after truncation), as strings; their
        positions are the positions of ``encode([prompt]).states[0]``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, dim={self.dim}, max_tokens={self.max_tokens})"


def zero_padding(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``states`` with the padded positions set to 0 (states (B, n, d), mask (B, n) bool)."""
    return states * mask.unsqueeze(-1).to(states.dtype)


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each prompt's real token states, (B, d) (states (B, n, d), mask (B, n) of
    bool or 0/1); a prompt with no real token gives zeros."""
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def require_prompts(prompts: Sequence[str]) -> list[str]:
    """The prompts as a list; a bare string or an empty batch is a ``ValueError``."""
    if isinstance(prompts, str):
        raise ValueError("encode() takes a sequence of prompts, not a single string")
    out = list(prompts)
    if not out:
        raise ValueError("encode() needs at least one prompt")
    return out
