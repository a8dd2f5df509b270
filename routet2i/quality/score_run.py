"""Scoring a list of manifest entries into ratings-table rows, with explicit failure handling.

Every unreadable or missing image is either fatal (``on_error="fail"``: a
:class:`~routet2i.errors.DataError` naming the file) or skipped and reported in
:attr:`ScoreResult.skipped` with its path and reason (``on_error="skip"``); none is dropped
silently. Missing files are found before any scoring starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.quality.backend import source_name
from routet2i.quality.images import ImageReadError, load_rgb
from routet2i.quality.scorer import QualityScorer
from routet2i.ratings.table import Rating, RatingsTable

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

OnError = Literal["fail", "skip"]
ON_ERROR: tuple[OnError, ...] = ("fail", "skip")


@dataclass(frozen=True)
class SkippedImage:
    """An image left out of the scores, and why."""

    path: Path
    reason: str


@dataclass
class ScoreResult:
    """The rows written (one per scored image and metric), how many images were scored, and the
    images skipped."""

    table: RatingsTable
    scored: int
    skipped: list[SkippedImage] = field(default_factory=list)


def score_entries(
    entries: Sequence[ManifestEntry], scorer: QualityScorer, *, on_error: OnError = "fail"
) -> ScoreResult:
    """Score every entry's image on every metric of ``scorer``; rows carry
    ``source = clip:<model>/<pretrained>``, ``sample`` = the seed (or file name), ``image`` = path."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    missing = [e.image for e in entries if not e.image.is_file()]
    if missing and on_error == "fail":
        shown = ", ".join(str(p) for p in missing[:10]) + (", …" if len(missing) > 10 else "")
        raise DataError(f"{len(missing)} of {len(entries)} images not found: {shown} (--on-error skip to skip them)")
    result = ScoreResult(RatingsTable(), scored=0)
    source = source_name(scorer.backend)
    names = scorer.names
    for start in range(0, len(entries), scorer.batch_size):
        batch: list[ManifestEntry] = []
        images: list[Image.Image] = []
        for entry in entries[start : start + scorer.batch_size]:
            try:
                images.append(load_rgb(entry.image))
            except ImageReadError as exc:
                if on_error == "fail":
                    raise DataError(f"{exc} (--on-error skip to skip unreadable images)") from exc
                log.warning("skipping %s: %s", exc.path, exc.reason)
                result.skipped.append(SkippedImage(exc.path, exc.reason))
                continue
            batch.append(entry)
        if not batch:
            continue
        scores = scorer.score_tensor(images, [e.prompt for e in batch]).tolist()
        for entry, row in zip(batch, scores, strict=True):
            result.table.extend(
                Rating(
                    dataset=entry.dataset,
                    prompt_id=entry.prompt_id,
                    prompt=entry.prompt,
                    model=entry.model,
                    sample=entry.sample,
                    metric=name,
                    score=float(score),
                    source=source,
                    image=str(entry.image),
                )
                for name, score in zip(names, row, strict=True)
            )
        result.scored += len(batch)
        done = result.scored + len(result.skipped)
        if (start // scorer.batch_size) % 10 == 9 or done == len(entries):
            log.info("scored %d / %d images (%d skipped)", done, len(entries), len(result.skipped))
    return result
