"""The CLIP backend interface and its spec (loading one: :mod:`routet2i.quality.loading`).

A backend wraps one CLIP model (image tower, text tower, logit scale) behind
:class:`ClipBackend`. Two implementations: open_clip (:mod:`routet2i.quality.open_clip_backend`,
the default) and transformers ``CLIPModel`` (:mod:`routet2i.quality.transformers_backend`).
Features come back L2-normalised, float32, on the CPU, whatever device and dtype the model runs
in, so scores are computed the same way for every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from routet2i.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from PIL import Image

BackendName = Literal["open_clip", "transformers"]
BACKENDS: tuple[BackendName, ...] = ("open_clip", "transformers")

#: The model each backend loads when none is named: OpenAI CLIP ViT-L/14.
DEFAULT_MODELS: dict[BackendName, tuple[str, str | None]] = {
    "open_clip": ("ViT-L-14", "openai"),
    "transformers": ("openai/clip-vit-large-patch14", None),
}

DTYPES = ("float32", "float16", "bfloat16")


@runtime_checkable
class ClipBackend(Protocol):
    """One CLIP model. ``encode_*`` return L2-normalised float32 CPU tensors of shape [n, D]."""

    @property
    def name(self) -> str:
        """``<model>/<pretrained>`` (open_clip) or the repo id / folder (transformers)."""
        ...

    @property
    def logit_scale(self) -> float:
        """The model's own learned logit scale ``exp(logit_scale)`` (100 for OpenAI CLIP)."""
        ...

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor: ...

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor: ...


class TorchClipBackend:
    """What every torch CLIP backend shares: the model (put in eval mode), its name, the device
    and dtype it runs in, and its learned logit scale. Subclasses add the towers' inputs."""

    def __init__(self, model: Any, name: str, device: torch.device, dtype: torch.dtype) -> None:
        self._model = model.eval()
        self._name = name
        self._device = device
        self._dtype = dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def logit_scale(self) -> float:
        return float(self._model.logit_scale.detach().float().exp().item())


def normalised(features: torch.Tensor) -> torch.Tensor:
    """``features`` as :class:`ClipBackend` returns them: float32, on the CPU, L2-normalised."""
    import torch.nn.functional as F

    return F.normalize(features.float().cpu(), dim=-1)


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP model to load and where to run it.

    ``model``: an open_clip architecture name (``ViT-L-14``), ``hf-hub:org/repo``, or a folder
    (open_clip: holding ``open_clip_config.json`` and weights); for transformers a hub repo id or a
    ``save_pretrained`` folder. ``pretrained``: open_clip only, a tag (``openai``) or a weights
    file. ``device``: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda``, ``cuda:1``, …
    """

    backend: BackendName = "open_clip"
    model: str | None = None
    pretrained: str | None = None
    device: str = "auto"
    dtype: str = "float32"

    def resolved(self) -> ClipSpec:
        """The spec with the backend's default model filled in (only when ``model`` is unset)."""
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown CLIP backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.backend == "transformers" and self.pretrained is not None:
            raise ConfigError(
                "--pretrained applies to the open_clip backend only; with transformers, name the repo id "
                "or folder as the model"
            )
        if self.model is not None:
            return self
        model, pretrained = DEFAULT_MODELS[self.backend]
        return ClipSpec(self.backend, model, self.pretrained or pretrained, self.device, self.dtype)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA if available, else CPU; anything else as torch spells it."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"invalid device {device!r}: {exc}") from None


def resolve_dtype(dtype: str) -> torch.dtype:
    """``float32`` / ``float16`` / ``bfloat16`` → the torch dtype."""
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def source_name(backend: ClipBackend) -> str:
    """The ratings-table ``source`` of scores made with ``backend``: ``clip:<name>``."""
    return f"clip:{backend.name}"
