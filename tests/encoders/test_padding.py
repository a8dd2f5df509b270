"""A batch is padded to its own longest prompt, never to the encoder's maximum length, and the
int8 copy of an encoder keeps the tokenizer, shapes and (approximately) the states."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from routet2i.encoders.hf import HFTextEncoder
from routet2i.encoders.quantised import int8_copy

PROMPTS = ["a fox", "a red fox in the snow at dusk", "fox"]


@pytest.fixture(scope="module")
def bert(tiny_bert_dir: Path) -> HFTextEncoder:
    return HFTextEncoder(tiny_bert_dir, spec=f"hf:{tiny_bert_dir}", pooling="mean")


def test_a_batch_pads_to_its_longest_prompt(bert: HFTextEncoder) -> None:
    lengths = [len(bert.tokens(p)) for p in PROMPTS]
    ids, mask = bert.token_ids(PROMPTS)
    assert ids.shape == mask.shape == (len(PROMPTS), max(lengths))
    assert max(lengths) < bert.max_tokens
    assert mask.sum(dim=1).tolist() == lengths
    enc = bert.encode(PROMPTS)
    assert enc.states.shape[1] == max(lengths) and enc.lengths == lengths
    assert bert.encode([PROMPTS[2]]).states.shape[1] == lengths[2]


def test_int8_copy_keeps_the_contract(bert: HFTextEncoder) -> None:
    quantised = int8_copy(bert)
    assert quantised.model is not bert.model
    assert any(isinstance(m, torch.nn.Linear) for m in bert.model.modules())  # the original is untouched
    assert (quantised.spec, quantised.dim, quantised.max_tokens) == (bert.spec, bert.dim, bert.max_tokens)
    want, got = bert.encode(PROMPTS), quantised.encode(PROMPTS)
    assert torch.equal(got.mask, want.mask)
    assert bool((got.states[~got.mask] == 0).all())
    cos = torch.nn.functional.cosine_similarity(got.states[got.mask], want.states[want.mask], dim=-1)
    assert float(cos.min()) > 0.9
