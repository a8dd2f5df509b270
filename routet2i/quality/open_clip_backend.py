"""The open_clip CLIP backend (the default).

Loads through ``open_clip.create_model_and_transforms`` and ``open_clip.get_tokenizer``, exactly as
open_clip's own examples do, so any architecture it knows works: a built-in name with a
pretrained tag (``ViT-L-14`` / ``openai``) or a weights file, ``hf-hub:org/repo``, or a local
folder (``local-dir:`` in open_clip's terms: ``open_clip_config.json`` plus weights).

A pretrained tag trained with QuickGELU (every ``openai`` tag) is loaded with QuickGELU even when
the architecture name lacks ``-quickgelu``: otherwise open_clip only warns and the features are
wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routet2i.errors import ConfigError
from routet2i.quality.backend import TorchClipBackend, normalised

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)

_SCHEMAS = ("hf-hub:", "local-dir:")
_PRECISION = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


class OpenClipBackend(TorchClipBackend):
    """An open_clip model with its evaluation transform and tokenizer."""

    def __init__(
        self,
        model: Any,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        name: str,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(model, name, device, dtype)
        self._preprocess = preprocess
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, model: str, pretrained: str | None, *, device: torch.device, dtype: torch.dtype) -> OpenClipBackend:
        """Load ``model`` (name, ``hf-hub:…``, ``local-dir:…`` or a folder) with ``pretrained``
        (a tag or a weights file; ignored for a folder or ``hf-hub:``)."""
        import open_clip
        import torch

        model_id = model
        if not model.startswith(_SCHEMAS) and Path(model).is_dir():
            model_id = f"local-dir:{model}"
        if model_id.startswith(_SCHEMAS):
            if pretrained is not None:
                log.warning("--pretrained %s is ignored: %s carries its own weights", pretrained, model)
            pretrained = None
            name = model
        else:
            if model.replace("/", "-") not in open_clip.list_models():
                raise ConfigError(
                    f"unknown open_clip architecture {model!r} (open_clip.list_models() lists the known ones, "
                    "e.g. ViT-L-14, ViT-B-32, ViT-H-14); or give a folder or hf-hub:org/repo"
                )
            if pretrained is None:
                raise ConfigError(
                    f"open_clip model {model!r} needs --pretrained (a tag such as 'openai', or a weights "
                    "file); refusing to score with random weights"
                )
            name = f"{model}/{pretrained}"
        tag_cfg = {} if pretrained is None else open_clip.get_pretrained_cfg(model, pretrained)
        precision = _PRECISION[str(dtype).removeprefix("torch.")]
        try:
            clip, _, preprocess = open_clip.create_model_and_transforms(
                model_id,
                pretrained=pretrained,
                precision=precision,
                device=device,
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
            )
            tokenizer = open_clip.get_tokenizer(model_id)
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot load open_clip model {model!r} (pretrained {pretrained!r}): {exc}") from exc
        if not isinstance(getattr(clip, "logit_scale", None), torch.Tensor):
            raise ConfigError(f"open_clip model {model!r} has no logit_scale: not a contrastive CLIP model")
        return cls(clip, preprocess, tokenizer, name, device, dtype)

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        import torch

        pixels = torch.stack([self._preprocess(im) for im in images]).to(self._device, self._dtype)
        with torch.inference_mode():
            features = self._model.encode_image(pixels)
        return normalised(features)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        import torch

        tokens = self._tokenizer(list(texts)).to(self._device)
        with torch.inference_mode():
            features = self._model.encode_text(tokens)
        return normalised(features)
