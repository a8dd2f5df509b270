"""The text tower of an open_clip model (spec ``open_clip:<model>/<pretrained>``).

Token states are the final-layer-norm outputs (width of the text transformer) of the positions
from start-of-text to end-of-text inclusive; ``pooled`` is the projected end-of-text embedding (the
CLIP text embedding). open_clip's tokenizer keeps the first ``context_length`` − 1 tokens and puts
the end-of-text token last (``max_tokens`` = ``context_length``, 77 for CLIP).

For a causal text tower (CLIP) the batch is cut to its longest prompt before the transformer:
with a causal mask the positions after end-of-text never influence earlier ones, so this equals
running the full context, only faster. A non-causal tower runs the full context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from routet2i.encoders.base import Encoding, TextEncoder, require_prompts, zero_padding
from routet2i.encoders.spec import EncoderSpec
from routet2i.errors import ConfigError


class OpenClipTextEncoder(TextEncoder):
    """Token states of an open_clip text tower (see the module docstring)."""

    def __init__(self, spec: EncoderSpec, device: str = "cpu") -> None:
        import open_clip

        self.spec = str(spec)
        self.device = device
        try:
            model = open_clip.create_model(spec.name, pretrained=spec.pretrained, device=device)
            self.tokenizer = open_clip.get_tokenizer(spec.name)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"encoder {self.spec!r}: cannot load the open_clip model: {exc}") from exc
        if hasattr(model, "visual"):
            model.visual = torch.nn.Identity()  # only the text tower is used; free the image tower
        model.eval().requires_grad_(False)
        self.model = model
        text = getattr(model, "text", None)
        if text is not None:  # CustomTextCLIP: a TextTransformer module
            if not hasattr(text, "output_tokens") or not hasattr(text, "width"):
                raise ConfigError(f"encoder {self.spec!r}: unsupported open_clip text tower {type(text).__name__}")
            text.output_tokens = True
            self.dim = int(text.width)
        else:  # CLIP: the text tower's modules sit on the model itself
            self.dim = int(model.token_embedding.embedding_dim)
        self.max_tokens = int(getattr(self.tokenizer, "context_length", 77))
        self._eot = getattr(self.tokenizer, "eot_token_id", None)

    def _ids_and_mask(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.tokenizer(prompts).to(self.device)
        positions = torch.arange(ids.shape[1], device=ids.device)
        if self._eot is not None:
            is_eot = ids == self._eot
            last = torch.where(is_eot.any(dim=1), is_eot.int().argmax(dim=1), ids.shape[1] - 1)
            mask = positions.unsqueeze(0) <= last.unsqueeze(1)
        else:
            mask = ids != 0
        return ids, mask

    def encode(self, prompts: Sequence[str]) -> Encoding:
        ids, mask = self._ids_and_mask(require_prompts(prompts))
        n = int(mask.sum(dim=1).max())
        with torch.inference_mode():
            if getattr(self.model, "text", None) is not None:
                pooled, tokens = self.model.text(ids)
                states = tokens[:, :n]
            else:
                states, pooled = self._clip_forward(ids, n)
            states = zero_padding(states.float(), mask[:, :n])
        return Encoding(states=states.clone(), mask=mask[:, :n].clone(), pooled=pooled.float().clone())

    def _clip_forward(self, ids: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``CLIP.encode_text`` keeping the token states (cut to ``n`` positions when causal)."""
        from open_clip.transformer import text_global_pool

        m: Any = self.model
        attn_mask = m.attn_mask
        if attn_mask is not None:
            ids = ids[:, :n]
            attn_mask = attn_mask[:n, :n]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(ids).to(cast) + m.positional_embedding[: ids.shape[1]].to(cast)
        x = m.transformer(x, attn_mask=attn_mask)
        x = m.ln_final(x)
        pooled = text_global_pool(x, ids, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        if m.text_projection is not None:
            pooled = (
                m.text_projection(pooled)
                if isinstance(m.text_projection, torch.nn.Linear)
                else pooled @ m.text_projection
            )
        return x[:, :n], pooled

    def tokens(self, prompt: str) -> list[str]:
        ids, mask = self._ids_and_mask([prompt])
        real = ids[0][mask[0]].tolist()
        decoder = getattr(self.tokenizer, "decoder", None)
        if isinstance(decoder, dict):
            return [str(decoder.get(i, i)) for i in real]
        return [str(i) for i in real]
