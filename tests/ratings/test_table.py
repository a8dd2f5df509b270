from __future__ import annotations

from pathlib import Path

import pytest

from routet2i.errors import DataError
from routet2i.ratings.table import Rating, RatingsTable


def _row(model: str, score: float, sample: str = "0", n: int = 1) -> Rating:
    return Rating("ds", "p1", "a cat", model, sample, "alignment", score, "human:x", n_ratings=n)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    table = RatingsTable(
        [_row("a", 3.5), Rating("ds", "p2", "a dög", "b", "7", "q", 0.2, "clip:x", 3, (0.1, 0.2, 0.3), "i.png")]
    )
    table.write(tmp_path / "t.jsonl")
    again = RatingsTable.read(tmp_path / "t.jsonl")
    assert again.rows == table.rows


def test_mean_scores_weight_by_rater_count() -> None:
    table = RatingsTable([_row("a", 1.0, "0", 1), _row("a", 4.0, "1", 3)])
    assert table.mean_scores()[("ds", "p1", "a", "alignment")] == pytest.approx((1 + 12) / 4)


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_row("a", 1).to_json() + "\n" + '{"dataset": "x"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        RatingsTable.read(path)
    with pytest.raises(DataError, match="not found"):
        RatingsTable.read(tmp_path / "missing.jsonl")
