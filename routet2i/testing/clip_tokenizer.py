"""A real CLIP BPE tokenizer built offline from the vocabulary that open-clip-torch ships.

transformers 5's ``CLIPTokenizer(vocab_file=..., merges_file=...)`` silently builds a broken
3-token tokenizer, so we build the vocabulary and merges in memory exactly as open_clip's
``SimpleTokenizer`` does and pass them as ``vocab=`` / ``merges=``. Ids equal open_clip's.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import Any

CLIP_VOCAB_SIZE = 49408


def _bytes_to_unicode() -> dict[int, str]:
    from open_clip.tokenizer import bytes_to_unicode

    return dict(bytes_to_unicode())


@functools.lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token → id, merges) of OpenAI CLIP's BPE, from open_clip's bundled vocabulary file."""
    from open_clip.tokenizer import default_bpe

    with gzip.open(default_bpe()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(_bytes_to_unicode().values())
    tokens = base + [t + "</w>" for t in base] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == CLIP_VOCAB_SIZE
    return {t: i for i, t in enumerate(tokens)}, [(a, b) for a, b in merges]


def build_clip_tokenizer(model_max_length: int = 77, pad_token: str = "<|endoftext|>") -> Any:
    """A ``transformers.CLIPTokenizer`` equal in ids to OpenAI CLIP's."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    pairs: Any = list(merges)  # (a, b) pairs, which the tokenizers backend takes (the annotation says str)
    return CLIPTokenizer(vocab=dict(vocab), merges=pairs, model_max_length=model_max_length, pad_token=pad_token)


def save_clip_tokenizer(path: str | Path, model_max_length: int = 77, pad_token: str = "<|endoftext|>") -> Path:
    """Build the tokenizer and ``save_pretrained`` it into ``path`` (loadable offline)."""
    p = Path(path)
    build_clip_tokenizer(model_max_length, pad_token).save_pretrained(p)
    return p
