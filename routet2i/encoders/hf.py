"""A transformers text encoder: any ``AutoModel`` with its ``AutoTokenizer`` (spec ``hf:…``).

Truncation: to ``max_tokens`` = the smallest of the tokenizer's ``model_max_length``, the model's
``max_position_embeddings`` (where it has one) and an optional cap; the tokenizer keeps the first
tokens and re-adds its end token (``[SEP]`` for BERT, ``<|endoftext|>`` for CLIP).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from routet2i.encoders.base import Encoding, TextEncoder, mean_pool, require_prompts, zero_padding
from routet2i.errors import ConfigError
from routet2i.logs import adopt_library_loggers

Pooling = Literal["model", "mean"]

#: tokenizers report "no limit" as a huge number (int(1e30)).
_NO_LIMIT = 1_000_000


def tokenizer_subfolders(subfolder: str | None) -> list[str | None]:
    """Where to look for the tokenizer of a model in ``subfolder`` (diffusers layout first)."""
    if subfolder is None:
        return [None]
    candidates: list[str | None] = []
    if "text_encoder" in subfolder:
        candidates.append(subfolder.replace("text_encoder", "tokenizer"))
    candidates += [subfolder, None]
    return candidates


class HFTextEncoder(TextEncoder):
    """Token states from ``last_hidden_state`` of a transformers model (see :mod:`.spec`)."""

    def __init__(
        self,
        name_or_path: str | Path,
        *,
        spec: str,
        subfolder: str | None = None,
        device: str = "cpu",
        pooling: Pooling = "model",
        max_tokens: int | None = None,
    ) -> None:
        from transformers import AutoModel

        adopt_library_loggers()

        self.spec = spec
        self.device = device
        self.pooling = pooling
        source = str(name_or_path)
        self.tokenizer = _load_tokenizer(source, subfolder, spec)
        try:
            kwargs: dict[str, Any] = {"dtype": torch.float32}
            if subfolder:
                kwargs["subfolder"] = subfolder
            model = AutoModel.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"encoder {spec!r}: cannot load the model from {source!r}: {exc}") from exc
        model.eval().requires_grad_(False)
        self.model = model.to(device)
        config = model.config
        self.dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
        if not self.dim:
            raise ConfigError(f"encoder {spec!r}: the model config names no hidden_size / d_model")
        limits = [int(self.tokenizer.model_max_length)]
        if getattr(config, "max_position_embeddings", None):
            limits.append(int(config.max_position_embeddings))
        if max_tokens is not None:
            limits.append(max_tokens)
        limits = [n for n in limits if 0 < n < _NO_LIMIT]
        if not limits:
            raise ConfigError(f"encoder {spec!r}: neither tokenizer nor model states a maximum length")
        self.max_tokens = min(limits)

    def _tokenize(self, prompts: list[str]) -> Any:
        # padding="longest": a batch is padded to its own longest prompt, never to max_tokens
        return self.tokenizer(
            prompts, padding="longest", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )

    def token_ids(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input ids (B, n) int64, attention mask (B, n) int64) of ``prompts``, truncated and
        right-padded to the batch's longest prompt (n ≤ ``max_tokens``), on the CPU."""
        batch = self._tokenize(require_prompts(prompts))
        return batch["input_ids"], batch["attention_mask"]

    def states_from_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(token states (B, n, d) float32 with padding zeroed, the model's raw output) for token
        ids and a 0/1 mask on ``self.device``: the forward pass :meth:`encode` runs, and what the
        ONNX export of the router traces (:mod:`routet2i.predictor.onnx_export`)."""
        out = self.model(input_ids=ids, attention_mask=mask.long())
        return zero_padding(out.last_hidden_state.float(), mask.bool()), out

    def encode(self, prompts: Sequence[str]) -> Encoding:
        ids, attention = self.token_ids(prompts)
        ids = ids.to(self.device)
        mask = attention.to(self.device).bool()
        with torch.inference_mode():
            states, out = self.states_from_ids(ids, mask)
            pooled: torch.Tensor | None
            if self.pooling == "mean":
                pooled = mean_pool(states, mask)
            else:
                po = getattr(out, "pooler_output", None)
                pooled = po.float() if isinstance(po, torch.Tensor) else None
        return Encoding(states=states.clone(), mask=mask.clone(), pooled=None if pooled is None else pooled.clone())

    def tokens(self, prompt: str) -> list[str]:
        ids = self._tokenize([prompt])["input_ids"][0].tolist()
        return [str(t) for t in self.tokenizer.convert_ids_to_tokens(ids)]


def _load_tokenizer(source: str, subfolder: str | None, spec: str) -> Any:
    from transformers import AutoTokenizer

    adopt_library_loggers()

    errors: list[str] = []
    local = Path(source).is_dir()
    for sub in tokenizer_subfolders(subfolder):
        if local and sub is not None and not (Path(source) / sub).is_dir():
            continue
        try:
            tok = AutoTokenizer.from_pretrained(source, subfolder=sub) if sub else AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError, TypeError) as exc:
            errors.append(f"{sub or '<root>'}: {exc}")
            continue
        tok.padding_side = "right"
        tok.truncation_side = "right"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        return tok
    raise ConfigError(f"encoder {spec!r}: cannot load a tokenizer from {source!r} ({'; '.join(errors) or 'no folder'})")
