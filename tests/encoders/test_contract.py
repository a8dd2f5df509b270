"""The encoder contract (routet2i.encoders.base), run against every implementation."""

from __future__ import annotations

import pytest
import torch

from routet2i.encoders.base import TextEncoder
from routet2i.encoders.spec import EncoderSpec

PROMPTS = [
    "a red cube on top of a blue sphere",
    "Three zebras!",
    "",
    "an astronaut riding a horse on the moon, highly detailed oil painting, golden hour lighting",
]

END_TOKENS = {"[SEP]", "<|endoftext|>", "<end_of_text>"}


def test_shapes_mask_and_padding(encoder: TextEncoder) -> None:
    enc = encoder.encode(PROMPTS)
    b = len(PROMPTS)
    assert enc.states.dtype == torch.float32
    assert enc.states.shape[0] == b and enc.states.shape[2] == encoder.dim
    assert enc.mask.dtype == torch.bool and enc.mask.shape == enc.states.shape[:2]
    lengths = enc.lengths
    assert max(lengths) == enc.states.shape[1]
    assert min(lengths) >= 1  # the empty prompt keeps its special tokens
    for i, n in enumerate(lengths):
        assert enc.mask[i, :n].all() and not enc.mask[i, n:].any()  # right padding
        assert torch.count_nonzero(enc.states[i, n:]) == 0  # padded positions are zero
        assert n == len(encoder.tokens(PROMPTS[i]))
    if enc.pooled is not None:
        assert enc.pooled.shape[0] == b and enc.pooled.dtype == torch.float32
    assert not enc.states.requires_grad


def test_deterministic(encoder: TextEncoder) -> None:
    a = encoder.encode(PROMPTS)
    b = encoder.encode(PROMPTS)
    assert torch.equal(a.states, b.states) and torch.equal(a.mask, b.mask)


def test_batch_equals_one_by_one(encoder: TextEncoder) -> None:
    batch = encoder.encode(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        alone = encoder.encode([prompt])
        n = alone.lengths[0]
        assert batch.lengths[i] == n
        torch.testing.assert_close(batch.states[i, :n], alone.states[0, :n], atol=1e-4, rtol=1e-4)
        if alone.pooled is not None and batch.pooled is not None:
            torch.testing.assert_close(batch.pooled[i], alone.pooled[0], atol=1e-4, rtol=1e-4)


def test_long_prompt_keeps_the_start_and_the_end_token(encoder: TextEncoder) -> None:
    long_prompt = "a photo of a zebra " + "with many small green leaves " * 200
    toks = encoder.tokens(long_prompt)
    assert len(toks) == encoder.max_tokens
    assert toks[-1] in END_TOKENS
    short = encoder.tokens("a photo of a zebra")
    assert toks[: len(short) - 1] == short[:-1]  # the same first tokens, end token cut off
    enc = encoder.encode([long_prompt, "a cat"])
    assert enc.states.shape[1] == encoder.max_tokens
    assert enc.lengths == [encoder.max_tokens, len(encoder.tokens("a cat"))]


def test_frozen_and_spec_round_trip(encoder: TextEncoder) -> None:
    assert str(EncoderSpec.parse(encoder.spec)) == encoder.spec
    model = getattr(encoder, "model")  # noqa: B009 - every implementation keeps its model here
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def test_bad_input(encoder: TextEncoder) -> None:
    with pytest.raises(ValueError):
        encoder.encode([])
    with pytest.raises(ValueError):
        encoder.encode("a bare string")  # type: ignore[arg-type]
