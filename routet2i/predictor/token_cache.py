"""Token states computed once per unique prompt and kept for the whole training run.

The encoder is frozen, so its token states never change during training: every unique prompt is
encoded once (in length-sorted batches, to pad little) and its real-token states (n_i, d) are
kept in memory. With ``cache_dir`` they are also stored on disk as
``<cache_dir>/<sha1(encoder spec, prompts)>.safetensors`` and reused by a later run with the same
encoder spec and prompts (a spec naming a local folder whose weights changed needs a fresh cache).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from routet2i.encoders.base import TextEncoder


@dataclass
class TokenStates:
    """Real-token states of unique prompts: ``states[i]`` is (n_i, d) for ``prompts[i]``."""

    prompts: list[str]
    states: list[torch.Tensor]

    def __post_init__(self) -> None:
        self._index = {p: i for i, p in enumerate(self.prompts)}
        self._features: dict[tuple[str, ...], torch.Tensor] = {}

    def rows_of(self, prompts: Sequence[str]) -> list[int]:
        """Positions of ``prompts`` (each must be cached)."""
        return [self._index[p] for p in prompts]

    def batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded states (B, n, d) and mask (B, n) of the prompts at ``rows``."""
        return pad_states([self.states[r] for r in rows])

    def features(self, rows: Sequence[int], names: Sequence[str]) -> torch.Tensor | None:
        """Prompt-feature cues ``names`` (B, F) of the prompts at ``rows``; None if ``names`` is
        empty. Computed once per prompt and cue set."""
        if not names:
            return None
        key = tuple(names)
        if key not in self._features:
            from routet2i.predictor.prompt_features import prompt_feature_tensor

            self._features[key] = prompt_feature_tensor(self.prompts, key)
        return self._features[key][list(rows)]


def pad_states(items: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (n_i, d) tensors into zero-padded (B, max n_i, d) states and a (B, max n_i) mask."""
    n = max(int(t.shape[0]) for t in items)
    d = int(items[0].shape[1])
    states = torch.zeros(len(items), n, d, dtype=items[0].dtype, device=items[0].device)
    mask = torch.zeros(len(items), n, dtype=torch.bool, device=items[0].device)
    for i, t in enumerate(items):
        states[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return states, mask


def cache_key(encoder_spec: str, prompts: Sequence[str]) -> str:
    h = hashlib.sha1(encoder_spec.encode("utf-8"))
    for p in prompts:
        h.update(b"\0" + p.encode("utf-8"))
    return h.hexdigest()


def encode_prompts(
    encoder: TextEncoder,
    prompts: Sequence[str],
    *,
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> TokenStates:
    """Token states of the unique ``prompts`` (order of first appearance), from the disk cache
    where one matches."""
    unique = list(dict.fromkeys(prompts))
    if not unique:
        return TokenStates(prompts=[], states=[])
    path = Path(cache_dir) / f"{cache_key(encoder.spec, unique)}.safetensors" if cache_dir else None
    if path is not None and path.is_file():
        cached = _read_cache(path, len(unique))
        if cached is not None:
            return TokenStates(prompts=unique, states=cached)
    from tqdm import tqdm

    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    states: list[torch.Tensor | None] = [None] * len(unique)
    starts = range(0, len(order), batch_size)
    for s in tqdm(starts, desc="encoding prompts", unit="batch", file=sys.stderr, disable=not progress):
        rows = order[s : s + batch_size]
        enc = encoder.encode([unique[r] for r in rows])
        for r, t in zip(rows, enc.unpadded(), strict=True):
            states[r] = t.detach().to("cpu", torch.float32).clone()
    done = [t for t in states if t is not None]
    if path is not None:
        _write_cache(path, done)
    return TokenStates(prompts=unique, states=done)


def _write_cache(path: Path, states: list[torch.Tensor]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = torch.tensor([int(t.shape[0]) for t in states], dtype=torch.int64)
    tmp = path.with_name(path.name + ".tmp")
    save_file({"states": torch.cat(states).contiguous(), "lengths": lengths}, str(tmp))
    tmp.replace(path)


def _read_cache(path: Path, n: int) -> list[torch.Tensor] | None:
    from safetensors.torch import load_file

    try:
        data = load_file(str(path))
    except Exception:  # a damaged cache file is recomputed, never trusted
        return None
    lengths = data.get("lengths")
    if lengths is None or "states" not in data or lengths.numel() != n:
        return None
    return list(torch.split(data["states"], [int(x) for x in lengths.tolist()]))
