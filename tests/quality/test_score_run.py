"""Manifest entries → ratings rows: every unreadable image is failed on or reported, never dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.quality.backend import ClipBackend
from routet2i.quality.metrics import MetricSet
from routet2i.quality.score_run import score_entries
from routet2i.quality.scorer import QualityScorer


@pytest.fixture()
def entries(tmp_path: Path, images: list[Any]) -> list[ManifestEntry]:
    images[0].save(tmp_path / "ok.png")
    images[3].save(tmp_path / "ok2.jpg")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    names = ["ok.png", "missing.png", "truncated.png", "ok2.jpg"]
    return [ManifestEntry(tmp_path / n, "a cat", "edge", "demo", "p1", seed=i) for i, n in enumerate(names)]


@pytest.fixture()
def scorer(loaded_backends: dict[str, ClipBackend]) -> QualityScorer:
    one_metric = {
        "name": "s",
        "metrics": [{"name": "sharpness", "positive": "Sharp photo", "negative": "Blurry photo"}],
    }
    return QualityScorer(loaded_backends["open_clip"], MetricSet.model_validate(one_metric), batch_size=3)


def test_skip_reports_each_missing_and_undecodable_image(entries: list[ManifestEntry], scorer: QualityScorer) -> None:
    result = score_entries(entries, scorer, on_error="skip")
    assert result.scored == 2 and [r.sample for r in result.table] == ["0", "3"]
    assert [(s.path.name, s.reason.split(":")[0]) for s in result.skipped] == [
        ("missing.png", "file not found"),
        ("truncated.png", "OSError"),
    ]
    assert all(0 < r.score < 1 and r.metric == "sharpness" for r in result.table)


def test_fail_stops_at_a_missing_file_then_at_an_undecodable_one(
    entries: list[ManifestEntry], scorer: QualityScorer
) -> None:
    with pytest.raises(DataError, match=r"1 of 4 images not found: .*missing\.png"):
        score_entries(entries, scorer, on_error="fail")
    with pytest.raises(DataError, match=r"cannot read image .*truncated\.png: OSError"):
        score_entries([e for e in entries if e.image.name != "missing.png"], scorer, on_error="fail")
    with pytest.raises(ValueError, match="on_error"):
        score_entries(entries, scorer, on_error="ignore")  # type: ignore[arg-type]
