"""The multi-metric CLIP quality scorer: images (and their prompts) → one score per metric.

For every contrastive metric i of the :class:`~routet2i.quality.metrics.MetricSet`,
``q_i = sigmoid(s * (cos(img, m_i+) - cos(img, m_i-)))`` in (0, 1), s the backend's own logit
scale; with alignment enabled, ``alignment`` = the image-prompt cosine (or CLIPScore). The metric
texts are encoded once per scorer and cached; images are encoded ``batch_size`` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from routet2i.quality.backend import ClipBackend
from routet2i.quality.metrics import MetricSet

if TYPE_CHECKING:
    import torch
    from PIL import Image


class QualityScorer:
    """Scores images on every metric of ``metric_set`` with ``backend``."""

    def __init__(self, backend: ClipBackend, metric_set: MetricSet, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backend = backend
        self.metric_set = metric_set
        self.batch_size = batch_size
        self._text_cache: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        """The metric names, in the column order of :meth:`score_tensor`."""
        return self.metric_set.names

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalised features of ``texts`` [len, D], encoding only those not cached yet."""
        import torch

        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            self._text_cache.update(zip(missing, self.backend.encode_texts(missing), strict=True))
        return torch.stack([self._text_cache[t] for t in texts])

    def score_tensor(self, images: Sequence[Image.Image], prompts: Sequence[str] | None = None) -> torch.Tensor:
        """Scores, shape [len(images), len(names)], float64. ``prompts`` (one per image) are
        needed only when the alignment metric is enabled."""
        import torch

        from routet2i.quality.formula import alignment_score, contrastive_quality

        alignment = self.metric_set.alignment
        if alignment.enabled and prompts is None:
            raise ValueError("the alignment metric is enabled: pass one prompt per image")
        if prompts is not None and len(prompts) != len(images):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        metrics = self.metric_set.metrics
        positive = negative = None
        if metrics:
            self.text_features(self.metric_set.texts)  # one encoder call for every distinct metric text
            positive = self.text_features([m.positive for m in metrics])
            negative = self.text_features([m.negative for m in metrics])
        scale = self.backend.logit_scale
        chunks: list[torch.Tensor] = []
        for start in range(0, len(images), self.batch_size):
            image_features = self.backend.encode_images(images[start : start + self.batch_size])
            columns: list[torch.Tensor] = []
            if positive is not None and negative is not None:
                columns.append(contrastive_quality(image_features, positive, negative, scale))
            if alignment.enabled and prompts is not None:
                batch_prompts = list(prompts[start : start + self.batch_size])
                unique = list(dict.fromkeys(batch_prompts))
                encoded = dict(zip(unique, self.backend.encode_texts(unique), strict=True))
                prompt_features = torch.stack([encoded[p] for p in batch_prompts])
                columns.append(alignment_score(image_features, prompt_features, alignment.convention)[:, None])
            chunks.append(torch.cat(columns, dim=1))
        if not chunks:
            return torch.empty(0, len(self.names), dtype=torch.float64)
        return torch.cat(chunks)

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str] | None = None) -> list[dict[str, float]]:
        """One ``{metric: score}`` per image (see :meth:`score_tensor`)."""
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.score_tensor(images, prompts).tolist()]
