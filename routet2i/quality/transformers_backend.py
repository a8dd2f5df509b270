"""The transformers CLIP backend: ``CLIPModel`` with its image processor and tokenizer.

Loads any CLIP repo id (``openai/clip-vit-large-patch14``) or ``save_pretrained`` folder through
``from_pretrained``. Texts longer than the model's context (77 tokens for CLIP) are truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from routet2i.errors import ConfigError
from routet2i.logs import adopt_library_loggers
from routet2i.quality.backend import TorchClipBackend, normalised

if TYPE_CHECKING:
    import torch
    from PIL import Image


class TransformersClipBackend(TorchClipBackend):
    """A ``transformers.CLIPModel`` with its image processor and tokenizer."""

    def __init__(
        self, model: Any, image_processor: Any, tokenizer: Any, name: str, device: torch.device, dtype: torch.dtype
    ) -> None:
        super().__init__(model, name, device, dtype)
        self._image_processor = image_processor
        self._tokenizer = tokenizer
        self._max_length = int(model.config.text_config.max_position_embeddings)

    @classmethod
    def load(cls, model: str, *, device: torch.device, dtype: torch.dtype) -> TransformersClipBackend:
        """``CLIPModel.from_pretrained(model)`` plus the image processor and tokenizer beside it."""
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        adopt_library_loggers()

        try:
            clip: Any = CLIPModel.from_pretrained(model, dtype=dtype)
            clip.to(device)
            image_processor = AutoImageProcessor.from_pretrained(model)
            tokenizer = AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot load transformers CLIP model {model!r}: {exc}") from exc
        return cls(clip, image_processor, tokenizer, model, device, dtype)

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        import torch

        pixels = self._image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self._model.get_image_features(pixel_values=pixels.to(self._device, self._dtype))
        return _normalised(out)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        import torch

        batch = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            out = self._model.get_text_features(
                input_ids=batch["input_ids"].to(self._device), attention_mask=batch["attention_mask"].to(self._device)
            )
        return _normalised(out)


def _normalised(out: Any) -> torch.Tensor:
    """The projected features (a tensor, or ``pooler_output`` in transformers 5), normalised."""
    import torch

    return normalised(out if isinstance(out, torch.Tensor) else out.pooler_output)
