"""The transformers encoder: diffusers subfolder layout, limits, pooling, load errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from routet2i.encoders.hf import HFTextEncoder, tokenizer_subfolders
from routet2i.encoders.loading import load_encoder
from routet2i.errors import ConfigError


def test_tokenizer_subfolder_candidates() -> None:
    assert tokenizer_subfolders(None) == [None]
    assert tokenizer_subfolders("text_encoder") == ["tokenizer", "text_encoder", None]
    assert tokenizer_subfolders("text_encoder_2") == ["tokenizer_2", "text_encoder_2", None]
    assert tokenizer_subfolders("encoder") == ["encoder", None]


def test_clip_text_encoder_from_diffusers_layout(tiny_clip_dir: Path) -> None:
    """The edge model's own text encoder serves the router: CLIP BPE tokens, 77 max, EOS pooling."""
    from transformers import CLIPTextModel

    enc = load_encoder(f"hf:{tiny_clip_dir}#text_encoder")
    assert isinstance(enc, HFTextEncoder)
    assert enc.max_tokens == 77 and enc.dim == 32
    assert enc.tokens("a zebra") == ["<|startoftext|>", "a</w>", "zebra</w>", "<|endoftext|>"]
    reference = CLIPTextModel.from_pretrained(tiny_clip_dir, subfolder="text_encoder").eval()
    out = enc.encode(["a zebra"])
    ids = enc.tokenizer(["a zebra"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = reference(input_ids=ids)
    torch.testing.assert_close(out.states[0], ref.last_hidden_state[0])
    assert out.pooled is not None
    torch.testing.assert_close(out.pooled[0], ref.pooler_output[0])


def test_bert_limit_is_the_smallest_of_tokenizer_and_positions(tiny_bert_dir: Path) -> None:
    enc = load_encoder(f"hf:{tiny_bert_dir}")
    assert enc.max_tokens == 64  # tokenizer allows 512, the tiny model has 64 positions
    assert enc.tokens("a zebra") == ["[CLS]", "a", "zebra", "[SEP]"]


def test_minilm_is_mean_pooled_bert(loaded_minilm: HFTextEncoder) -> None:
    enc = loaded_minilm
    assert (enc.spec, enc.dim, enc.max_tokens) == ("minilm", 384, 256)
    out = enc.encode(["a zebra", "two red apples on a table"])
    assert out.pooled is not None
    n = out.lengths[0]
    torch.testing.assert_close(out.pooled[0], out.states[0, :n].mean(dim=0))


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load"):
        load_encoder(f"hf:{tmp_path / 'nothing-here'}")


@pytest.fixture
def loaded_minilm(encoder_specs: dict[str, str], loaded_encoders: dict[str, object]) -> HFTextEncoder:
    if "minilm" not in loaded_encoders:
        loaded_encoders["minilm"] = load_encoder("minilm")
    enc = loaded_encoders["minilm"]
    assert isinstance(enc, HFTextEncoder)
    return enc
