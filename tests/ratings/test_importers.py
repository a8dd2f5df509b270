"""Importers against the real rated data in ../shared/data (skipped where it is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routet2i.errors import DataError
from routet2i.ratings.importers import import_dataset


def _prompts(table: object) -> set[tuple[str, str]]:
    return {(r.dataset, r.prompt_id) for r in table}  # type: ignore[attr-defined]


def test_genai_bench_counts(shared_data: Path) -> None:
    table = import_dataset("genai-bench-527", shared_data)
    assert len(_prompts(table)) == 527
    assert len(table.models()) == 6
    assert len(table) == 527 * 6
    assert all(r.n_ratings == 3 and r.ratings is not None and len(r.ratings) == 3 for r in table)
    assert sum(r.n_ratings for r in table) == 9486
    dalle = [r.score for r in table if r.model == "DALLE_3"]
    assert sum(dalle) / len(dalle) == pytest.approx(3.72, abs=0.01)


def test_agiqa_counts(shared_data: Path) -> None:
    table = import_dataset("agiqa-3k", shared_data)
    assert len(_prompts(table)) == 300
    images = {(r.model, r.prompt_id) for r in table}
    assert len(images) == 2982
    assert table.metrics() == ["alignment", "quality"]
    xl = [r.score for r in table if r.model == "xl2.2_normal" and r.metric == "quality"]
    assert sum(xl) / len(xl) == pytest.approx(3.30, abs=0.01)


def test_tifa_counts(shared_data: Path) -> None:
    table = import_dataset("tifa-human", shared_data)
    assert len(_prompts(table)) == 160
    assert len(table.models()) == 5
    tifa = [r for r in table if r.metric == "alignment"]
    assert len(tifa) == 160 * 5 and all(r.n_ratings == 2 for r in tifa)
    dsg = [r for r in table if r.metric == "alignment_dsg"]
    assert len(dsg) == 800 and sum(r.n_ratings for r in dsg) == 3995


def test_unknown_dataset_and_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        import_dataset("nope", tmp_path)
    with pytest.raises(DataError, match="data-dir"):
        import_dataset("agiqa-3k", tmp_path)
