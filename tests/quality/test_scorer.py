"""The scorer contract, run on both CLIP backends (tiny random models loaded from disk)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from routet2i.quality.backend import ClipBackend
from routet2i.quality.metrics import MetricSet, load_metric_set
from routet2i.quality.scorer import QualityScorer
from routet2i.testing.clip import TINY_IMAGE_SIZE, TINY_LOGIT_SCALE
from tests.quality.conftest import TinyClip

DirectFeatures = tuple[Callable[[Sequence[Any]], np.ndarray], Callable[[Sequence[str]], np.ndarray], float]


@pytest.fixture(scope="module")
def direct(tiny_clip: TinyClip) -> dict[str, DirectFeatures]:
    """Per backend kind: (image features, text features, logit scale) computed by calling each
    library's model directly, bypassing the product's backends; features L2-normalised, float64."""
    import open_clip
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    def unit(x: torch.Tensor) -> np.ndarray:
        a = x.double().numpy()
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    oc_model, _, oc_preprocess = open_clip.create_model_and_transforms(
        tiny_clip.open_clip_name, pretrained=str(tiny_clip.open_clip_weights)
    )
    oc_model.eval()
    oc_tokenizer = open_clip.get_tokenizer(tiny_clip.open_clip_name)
    hf_model = CLIPModel.from_pretrained(tiny_clip.transformers_dir).eval()
    hf_processor = CLIPImageProcessor.from_pretrained(tiny_clip.transformers_dir)
    hf_tokenizer = AutoTokenizer.from_pretrained(tiny_clip.transformers_dir)

    @torch.no_grad()
    def oc_images(ims: Sequence[Any]) -> np.ndarray:
        return unit(oc_model.encode_image(torch.stack([oc_preprocess(im.convert("RGB")) for im in ims])))

    @torch.no_grad()
    def oc_texts(texts: Sequence[str]) -> np.ndarray:
        return unit(oc_model.encode_text(oc_tokenizer(list(texts))))

    @torch.no_grad()
    def hf_images(ims: Sequence[Any]) -> np.ndarray:
        pixels = hf_processor(images=list(ims), return_tensors="pt")["pixel_values"]
        return unit(hf_model.get_image_features(pixel_values=pixels).pooler_output)

    @torch.no_grad()
    def hf_texts(texts: Sequence[str]) -> np.ndarray:
        batch = hf_tokenizer(list(texts), padding=True, return_tensors="pt")
        return unit(hf_model.get_text_features(**batch).pooler_output)

    return {
        "open_clip": (oc_images, oc_texts, float(oc_model.logit_scale.detach().exp())),
        "transformers": (hf_images, hf_texts, float(hf_model.logit_scale.detach().exp())),
    }


@pytest.fixture(scope="module")
def metric_set() -> MetricSet:
    return load_metric_set()


class CountingBackend:
    """Wraps a backend and records every ``encode_texts`` call (to observe the text cache)."""

    def __init__(self, inner: ClipBackend) -> None:
        self.inner = inner
        self.text_calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def logit_scale(self) -> float:
        return self.inner.logit_scale

    def encode_images(self, images: Sequence[Any]) -> torch.Tensor:
        return self.inner.encode_images(images)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        self.text_calls.append(list(texts))
        return self.inner.encode_texts(texts)


def test_features_are_normalised_float32_of_one_width(backend: ClipBackend, images: list[Any]) -> None:
    assert isinstance(backend, ClipBackend)
    image_features = backend.encode_images(images)
    text_features = backend.encode_texts(["Sharp photo", "Blurry photo", "a red square"])
    assert image_features.shape == (5, 32) and text_features.shape == (3, 32)
    assert image_features.dtype == text_features.dtype == torch.float32
    torch.testing.assert_close(image_features.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(text_features.norm(dim=-1), torch.ones(3))


def test_logit_scale_is_the_models_own(backend: ClipBackend) -> None:
    assert backend.logit_scale == pytest.approx(TINY_LOGIT_SCALE, rel=1e-5)


def test_scores_lie_in_the_open_unit_interval_and_vary(
    backend: ClipBackend, metric_set: MetricSet, images: list[Any]
) -> None:
    q = QualityScorer(backend, metric_set, batch_size=2).score_tensor(images)
    assert q.shape == (5, 10)
    assert bool(((q > 0) & (q < 1)).all())
    assert bool((q.std(dim=0) > 0).all())  # every metric tells the images apart


def test_scores_match_the_formula_computed_from_the_model_directly(
    backend_kind: str,
    backend: ClipBackend,
    direct: dict[str, DirectFeatures],
    metric_set: MetricSet,
    images: list[Any],
) -> None:
    image_features, text_features, scale = direct[backend_kind]
    img = image_features(images)
    pos = text_features([m.positive for m in metric_set.metrics])
    neg = text_features([m.negative for m in metric_set.metrics])
    expected = 1.0 / (1.0 + np.exp(-scale * (img @ pos.T - img @ neg.T)))
    got = QualityScorer(backend, metric_set, batch_size=3).score(images)
    assert scale == pytest.approx(TINY_LOGIT_SCALE, rel=1e-5)
    assert [list(row) for row in got] == [metric_set.names] * len(images)
    np.testing.assert_allclose(np.array([list(row.values()) for row in got]), expected, atol=2e-5)


def test_alignment_is_the_image_prompt_cosine_or_clipscore(
    backend_kind: str,
    backend: ClipBackend,
    direct: dict[str, DirectFeatures],
    metric_set: MetricSet,
    images: list[Any],
) -> None:
    prompts = ["a red square", "noise", "a red square", "a grey gradient", "a magenta tile"]
    image_features, text_features, _ = direct[backend_kind]
    cos = (image_features(images) * text_features(prompts)).sum(axis=1)
    with_alignment = metric_set.with_alignment(True)
    got = QualityScorer(backend, with_alignment, batch_size=2).score_tensor(images, prompts)
    assert got.shape == (5, 11) and with_alignment.names[-1] == "alignment"
    np.testing.assert_allclose(got[:, -1].numpy(), cos, atol=2e-5)
    assert bool((got[:, -1].abs() <= 1).all())

    clipscore_set = MetricSet.model_validate(
        {**with_alignment.model_dump(), "alignment": {"enabled": True, "convention": "clipscore"}}
    )
    got = QualityScorer(backend, clipscore_set).score_tensor(images, prompts)
    np.testing.assert_allclose(got[:, -1].numpy(), 2.5 * np.maximum(cos, 0.0), atol=5e-5)


def test_scoring_is_deterministic(backend: ClipBackend, metric_set: MetricSet, images: list[Any]) -> None:
    first = QualityScorer(backend, metric_set).score_tensor(images)
    again = QualityScorer(backend, metric_set).score_tensor(images)
    assert torch.equal(first, again)


def test_batched_scores_equal_one_by_one(backend: ClipBackend, metric_set: MetricSet, images: list[Any]) -> None:
    batched = QualityScorer(backend, metric_set, batch_size=4).score_tensor(images)
    one_by_one = QualityScorer(backend, metric_set, batch_size=1)
    single = torch.cat([one_by_one.score_tensor([im]) for im in images])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)


def test_metric_texts_are_encoded_once_and_cached(
    backend: ClipBackend, metric_set: MetricSet, images: list[Any]
) -> None:
    counting = CountingBackend(backend)
    scorer = QualityScorer(counting, metric_set, batch_size=2)
    first = scorer.score_tensor(images)
    second = scorer.score_tensor(images[:2])
    assert len(counting.text_calls) == 1
    assert sorted(counting.text_calls[0]) == sorted(metric_set.texts)  # each distinct text once
    torch.testing.assert_close(second, first[:2])


def test_swapping_positive_and_negative_gives_one_minus_q(
    backend: ClipBackend, metric_set: MetricSet, images: list[Any]
) -> None:
    swapped = MetricSet.model_validate(
        {
            **metric_set.model_dump(),
            "metrics": [{**m.model_dump(), "positive": m.negative, "negative": m.positive} for m in metric_set.metrics],
        }
    )
    q = QualityScorer(backend, metric_set).score_tensor(images)
    q_swapped = QualityScorer(backend, swapped).score_tensor(images)
    torch.testing.assert_close(q_swapped, 1 - q, atol=1e-6, rtol=0)


def test_both_backends_agree_on_the_same_weights(
    loaded_backends: dict[str, ClipBackend], metric_set: MetricSet, images: list[Any]
) -> None:
    # The transformers model holds the open_clip weights ported; on images already at the model's
    # resolution the two preprocessing pipelines coincide, so the scores must too.
    square = [im for im in images if im.size == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)]
    assert len(square) == 3
    scores = {
        k: QualityScorer(b, metric_set.with_alignment(True)).score_tensor(square, ["a photo"] * 3)
        for k, b in loaded_backends.items()
    }
    torch.testing.assert_close(scores["open_clip"], scores["transformers"], atol=1e-5, rtol=0)


def test_scorer_rejects_missing_or_mismatched_prompts(
    loaded_backends: dict[str, ClipBackend], metric_set: MetricSet, images: list[Any]
) -> None:
    backend = loaded_backends["open_clip"]
    with pytest.raises(ValueError, match="one prompt per image"):
        QualityScorer(backend, metric_set.with_alignment(True)).score_tensor(images)
    with pytest.raises(ValueError, match="5 images but 2 prompts"):
        QualityScorer(backend, metric_set).score_tensor(images, ["a", "b"])
    with pytest.raises(ValueError, match="batch_size"):
        QualityScorer(backend, metric_set, batch_size=0)
