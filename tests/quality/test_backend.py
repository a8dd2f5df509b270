"""Choosing and loading CLIP backends: model sources, dtypes, and load failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from routet2i.errors import ConfigError
from routet2i.quality.backend import ClipBackend, ClipSpec, resolve_device, source_name
from routet2i.quality.loading import load_clip_backend
from routet2i.quality.open_clip_backend import OpenClipBackend
from routet2i.testing.clip import register_tiny_open_clip
from tests.quality.conftest import TinyClip

CPU = torch.device("cpu")


def test_spec_fills_each_backends_default_model() -> None:
    assert ClipSpec("open_clip").resolved() == ClipSpec("open_clip", "ViT-L-14", "openai")
    assert ClipSpec("transformers").resolved().model == "openai/clip-vit-large-patch14"
    assert ClipSpec("open_clip", pretrained="laion2b_s32b_b82k").resolved().pretrained == "laion2b_s32b_b82k"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ClipSpec("transformers", "some/repo", "openai"), "--pretrained applies to the open_clip backend only"),
        (ClipSpec("open_clip", dtype="float8"), "unknown dtype 'float8'"),
        (ClipSpec("jax"), "unknown CLIP backend 'jax'"),  # type: ignore[arg-type]
    ],
)
def test_bad_specs_are_config_errors(spec: ClipSpec, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        spec.resolved()


def test_bad_device_is_a_config_error() -> None:
    assert resolve_device("cpu") == CPU
    with pytest.raises(ConfigError, match="invalid device 'gpu0'"):
        resolve_device("gpu0")


def test_source_names_model_and_weights(loaded_backends: dict[str, ClipBackend], tiny_clip: TinyClip) -> None:
    assert source_name(loaded_backends["open_clip"]) == f"clip:routet2i-tiny-clip/{tiny_clip.open_clip_weights}"
    assert source_name(loaded_backends["transformers"]) == f"clip:{tiny_clip.transformers_dir}"


def test_open_clip_folder_loads_the_same_model(
    tiny_clip: TinyClip, loaded_backends: dict[str, ClipBackend], images: list[Any]
) -> None:
    from_dir = load_clip_backend(ClipSpec("open_clip", str(tiny_clip.open_clip_dir), device="cpu"))
    assert from_dir.name == str(tiny_clip.open_clip_dir)
    expected = loaded_backends["open_clip"].encode_images(images)
    torch.testing.assert_close(from_dir.encode_images(images), expected)


def test_quick_gelu_tags_load_with_quick_gelu(
    tiny_clip: TinyClip, loaded_backends: dict[str, ClipBackend], images: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An architecture name without -quickgelu plus a tag trained with QuickGELU (every 'openai'
    # tag): the product must build the QuickGELU model, as the weights expect.
    import open_clip

    gelu_name = register_tiny_open_clip(tiny_clip.open_clip_weights.parent.parent / "configs", quick_gelu=False)
    weights = str(tiny_clip.open_clip_weights)
    expected = loaded_backends["open_clip"].encode_images(images)
    plain = OpenClipBackend.load(gelu_name, weights, device=CPU, dtype=torch.float32).encode_images(images)
    assert not torch.allclose(plain, expected, atol=1e-4)

    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda model, tag: {"quick_gelu": True})
    tagged = OpenClipBackend.load(gelu_name, weights, device=CPU, dtype=torch.float32).encode_images(images)
    torch.testing.assert_close(tagged, expected)


@pytest.mark.parametrize("kind", ["open_clip", "transformers"])
def test_half_precision_runs_and_returns_float32_features(
    kind: str, tiny_clip: TinyClip, loaded_backends: dict[str, ClipBackend], images: list[Any]
) -> None:
    bf16 = load_clip_backend(tiny_clip.spec(kind, dtype="bfloat16"))
    features = bf16.encode_images(images)
    assert features.dtype == torch.float32
    torch.testing.assert_close(features, loaded_backends[kind].encode_images(images), atol=0.05, rtol=0)


def test_open_clip_without_weights_refuses(tiny_clip: TinyClip) -> None:
    with pytest.raises(ConfigError, match="needs --pretrained"):
        load_clip_backend(ClipSpec("open_clip", tiny_clip.open_clip_name, None, device="cpu"))


@pytest.mark.parametrize(
    ("model", "pretrained", "expected"),
    [
        ("No-Such-Arch", "openai", "unknown open_clip architecture 'No-Such-Arch'"),
        ("routet2i-tiny-clip", "/no/such/weights.pt", "not a known tag or valid file path"),
    ],
)
def test_open_clip_load_failures_are_config_errors(
    tiny_clip: TinyClip, model: str, pretrained: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_clip_backend(ClipSpec("open_clip", model, pretrained, device="cpu"))


def test_transformers_missing_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load transformers CLIP model"):
        load_clip_backend(ClipSpec("transformers", str(tmp_path / "missing"), device="cpu"))
