"""The open_clip text tower: both loading routes, and states/pooled equal open_clip's own."""

from __future__ import annotations

from pathlib import Path

import torch

from routet2i.encoders.loading import load_encoder
from routet2i.encoders.open_clip_text import OpenClipTextEncoder

PROMPTS = ["a photo of a zebra", "x", "two dogs!! playing"]


def test_named_config_and_local_dir_load_the_same_weights(tiny_open_clip: tuple[str, Path, Path]) -> None:
    name, weights, local = tiny_open_clip
    a = load_encoder(f"open_clip:{name}/{weights}").encode(PROMPTS)
    b = load_encoder(f"open_clip:local-dir:{local}").encode(PROMPTS)
    assert torch.equal(a.states, b.states) and torch.equal(a.mask, b.mask)


def test_equals_open_clip_encode_text(tiny_open_clip: tuple[str, Path, Path]) -> None:
    import open_clip

    name, weights, _ = tiny_open_clip
    enc = load_encoder(f"open_clip:{name}/{weights}")
    assert isinstance(enc, OpenClipTextEncoder)
    assert enc.max_tokens == 77 and enc.dim == 32
    assert enc.tokens("a zebra") == ["<start_of_text>", "a</w>", "zebra</w>", "<end_of_text>"]
    out = enc.encode(PROMPTS)
    model = open_clip.create_model(name, pretrained=str(weights)).eval()
    ids = open_clip.get_tokenizer(name)(PROMPTS)
    with torch.no_grad():
        pooled = model.encode_text(ids)
        x = model.token_embedding(ids) + model.positional_embedding
        full = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
    assert out.pooled is not None
    torch.testing.assert_close(out.pooled, pooled, atol=1e-5, rtol=1e-5)
    n = out.states.shape[1]
    # cutting the causal tower to the longest prompt changes nothing on real tokens
    torch.testing.assert_close(out.states, full[:, :n] * out.mask.unsqueeze(-1), atol=1e-5, rtol=1e-5)
