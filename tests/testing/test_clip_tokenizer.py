"""The offline CLIP tokenizer gives the same ids as open_clip's own (OpenAI CLIP's) tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PROMPTS = [
    "A photo of a Cat.",
    "an astronaut riding a horse on the moon, 4k, highly detailed, trending on artstation",
    "Café au lait — naïve 🙂 über",
    "  multiple   spaces\tand tabs ",
    "don't stop-believing: it's 3:45pm!!",
    "日本の猫",
    "High definition photo",
    "word " * 100,  # longer than the 77-token context: truncated, still ending in <|endoftext|>
]


@pytest.fixture(scope="module")
def tokenizer(clip_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(clip_tokenizer_dir)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_ids_equal_open_clip_tokenizer(tokenizer: Any, prompt: str) -> None:
    import open_clip

    ours = tokenizer(prompt, truncation=True, max_length=77)["input_ids"]
    theirs = [i for i in open_clip.tokenize([prompt])[0].tolist() if i != 0]  # open_clip pads with 0
    assert ours == theirs
    assert ours[0] == 49406 and ours[-1] == 49407 and len(ours) <= 77
