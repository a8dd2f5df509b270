"""Token states are computed once per unique prompt and reused from disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from routet2i.encoders.base import Encoding, TextEncoder
from routet2i.predictor.token_cache import encode_prompts, pad_states


class CountingEncoder(TextEncoder):
    """A unit-test double: one state per word (its length), counts prompts encoded."""

    spec = "hf:/counting"
    dim = 3
    max_tokens = 16
    device = "cpu"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, prompts: Sequence[str]) -> Encoding:
        self.seen += list(prompts)
        rows = [torch.tensor([[float(len(w)), 1.0, 0.0] for w in p.split()] or [[0.0, 0.0, 1.0]]) for p in prompts]
        states, mask = pad_states(rows)
        return Encoding(states=states, mask=mask)

    def tokens(self, prompt: str) -> list[str]:
        return prompt.split()


def test_each_unique_prompt_is_encoded_once_and_cached_on_disk(tmp_path: Path) -> None:
    enc = CountingEncoder()
    prompts = ["a bb", "ccc", "a bb", "dddd e", "ccc"]
    tokens = encode_prompts(enc, prompts, batch_size=2, cache_dir=tmp_path)
    assert sorted(enc.seen) == sorted(set(prompts))
    assert tokens.prompts == ["a bb", "ccc", "dddd e"]
    assert tokens.states[2].tolist() == [[4.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    again = CountingEncoder()
    cached = encode_prompts(again, prompts, cache_dir=tmp_path)
    assert again.seen == []
    assert all(torch.equal(a, b) for a, b in zip(tokens.states, cached.states, strict=True))
    states, mask = cached.batch(cached.rows_of(["dddd e", "ccc"]))
    assert states.shape == (2, 2, 3) and mask.tolist() == [[True, True], [True, False]]


def test_a_damaged_cache_is_recomputed(tmp_path: Path) -> None:
    enc = CountingEncoder()
    encode_prompts(enc, ["x y"], cache_dir=tmp_path)
    for f in tmp_path.iterdir():
        f.write_bytes(b"garbage")
    again = CountingEncoder()
    tokens = encode_prompts(again, ["x y"], cache_dir=tmp_path)
    assert again.seen == ["x y"] and tokens.states[0].shape == (2, 3)
