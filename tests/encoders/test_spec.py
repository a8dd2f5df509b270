"""Encoder spec strings: every documented form parses and prints back unchanged."""

from __future__ import annotations

import pytest

from routet2i.encoders.spec import DEFAULT_ENCODER, EncoderSpec
from routet2i.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "kind", "name", "subfolder", "pretrained"),
    [
        ("minilm", "minilm", "", None, None),
        ("hf:sentence-transformers/all-MiniLM-L6-v2", "hf", "sentence-transformers/all-MiniLM-L6-v2", None, None),
        ("hf:stabilityai/sd-turbo#text_encoder", "hf", "stabilityai/sd-turbo", "text_encoder", None),
        ("hf:/tmp/some dir/model", "hf", "/tmp/some dir/model", None, None),
        ("open_clip:ViT-B-32/openai", "open_clip", "ViT-B-32", None, "openai"),
        ("open_clip:ViT-B-32//abs/weights.safetensors", "open_clip", "ViT-B-32", None, "/abs/weights.safetensors"),
        ("open_clip:local-dir:/models/clip", "open_clip", "local-dir:/models/clip", None, None),
        ("open_clip:hf-hub:timm/ViT-B-16-SigLIP", "open_clip", "hf-hub:timm/ViT-B-16-SigLIP", None, None),
    ],
)
def test_parse_and_round_trip(text: str, kind: str, name: str, subfolder: str | None, pretrained: str | None) -> None:
    spec = EncoderSpec.parse(text)
    assert (spec.kind, spec.name, spec.subfolder, spec.pretrained) == (kind, name, subfolder, pretrained)
    assert str(spec) == text
    assert EncoderSpec.parse(str(spec)) == spec


def test_default_is_offline_minilm() -> None:
    assert EncoderSpec.parse(DEFAULT_ENCODER).kind == "minilm"


@pytest.mark.parametrize("text", ["", "bert", "hf:", "hf:#text_encoder", "open_clip:ViT-B-32", "open_clip:/x"])
def test_bad_specs_name_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=r"encoder|spec"):
        EncoderSpec.parse(text)
