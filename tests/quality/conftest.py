"""Session fixtures of the quality tests: tiny CLIP models on disk, loaded through the product."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from routet2i.quality.backend import ClipBackend, ClipSpec
from routet2i.quality.loading import load_clip_backend
from routet2i.testing.clip import (
    TINY_OPEN_CLIP_NAME,
    register_tiny_open_clip,
    save_tiny_hf_clip,
    save_tiny_open_clip,
    save_tiny_open_clip_dir,
)

BACKEND_KINDS = ("open_clip", "transformers")


@dataclass(frozen=True)
class TinyClip:
    """Where the tiny CLIP models lie: the open_clip weights file (``pretrained=``), the same model
    as an open_clip folder, and as a transformers ``save_pretrained`` folder."""

    open_clip_name: str
    open_clip_weights: Path
    open_clip_dir: Path
    transformers_dir: Path

    def spec(self, kind: str, **kwargs: Any) -> ClipSpec:
        """The spec a user would give for this model with backend ``kind``."""
        if kind == "open_clip":
            return ClipSpec("open_clip", self.open_clip_name, str(self.open_clip_weights), device="cpu", **kwargs)
        return ClipSpec("transformers", str(self.transformers_dir), None, device="cpu", **kwargs)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory, clip_tokenizer_dir: Path) -> TinyClip:
    root = tmp_path_factory.mktemp("tiny-clip")
    register_tiny_open_clip(root / "configs")
    weights = save_tiny_open_clip(root / "open_clip", seed=0)
    return TinyClip(
        open_clip_name=TINY_OPEN_CLIP_NAME,
        open_clip_weights=weights,
        open_clip_dir=save_tiny_open_clip_dir(root / "open_clip_dir", weights),
        transformers_dir=save_tiny_hf_clip(root / "transformers", weights, clip_tokenizer_dir),
    )


@pytest.fixture(scope="session")
def loaded_backends(tiny_clip: TinyClip) -> dict[str, ClipBackend]:
    """Both backends, loaded once per session through :func:`load_clip_backend`."""
    return {kind: load_clip_backend(tiny_clip.spec(kind)) for kind in BACKEND_KINDS}


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def backend(loaded_backends: dict[str, ClipBackend], backend_kind: str) -> ClipBackend:
    return loaded_backends[backend_kind]


@pytest.fixture(scope="session")
def images() -> list[Any]:
    """Five seeded RGB images of mixed sizes (noise, a gradient, a flat colour)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    noise = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((32, 32), (40, 56), (64, 48))
    ]
    ramp = np.linspace(0, 255, 32, dtype=np.uint8)
    gradient = Image.fromarray(np.stack([np.tile(ramp, (32, 1))] * 3, axis=-1))
    flat = Image.new("RGB", (32, 32), (200, 30, 90))
    return [*noise, gradient, flat]
