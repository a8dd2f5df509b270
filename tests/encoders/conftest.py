"""Every text encoder the product supports, built tiny in code (plus the real bundled MiniLM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from routet2i.encoders.base import TextEncoder
from tests.torch_threads import one_torch_thread


@pytest.fixture(autouse=True, scope="package")
def _single_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from routet2i.testing.text_encoders import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory, clip_tokenizer_dir: Path) -> Path:
    from routet2i.testing.text_encoders import save_tiny_clip_text

    return save_tiny_clip_text(tmp_path_factory.mktemp("tiny-clip"), clip_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    from routet2i.testing.text_encoders import save_tiny_open_clip

    return save_tiny_open_clip(tmp_path_factory.mktemp("tiny-open-clip"))


ENCODER_KINDS = ["minilm", "hf-bert", "hf-clip-subfolder", "open_clip"]


@pytest.fixture(scope="session")
def encoder_specs(tiny_bert_dir: Path, tiny_clip_dir: Path, tiny_open_clip: tuple[str, Path, Path]) -> dict[str, str]:
    name, weights, _ = tiny_open_clip
    return {
        "minilm": "minilm",
        "hf-bert": f"hf:{tiny_bert_dir}",
        "hf-clip-subfolder": f"hf:{tiny_clip_dir}#text_encoder",
        "open_clip": f"open_clip:{name}/{weights}",
    }


@pytest.fixture(scope="session")
def loaded_encoders() -> dict[str, TextEncoder]:
    """Cache of loaded encoders, so each loads once per session."""
    return {}


@pytest.fixture(params=ENCODER_KINDS)
def encoder(
    request: pytest.FixtureRequest, encoder_specs: dict[str, str], loaded_encoders: dict[str, TextEncoder]
) -> TextEncoder:
    from routet2i.encoders.loading import load_encoder

    kind = request.param
    if kind not in loaded_encoders:
        loaded_encoders[kind] = load_encoder(encoder_specs[kind])
    return loaded_encoders[kind]
