"""The ratings table: one row per (dataset, prompt, model, sample, metric) score.

Format: JSON Lines, one :class:`Rating` object a line, UTF-8. JSONL because rows come from very
different sources (human Likert ratings with their raters, CLIP scores of generated images with
their seed and image path), append cheaply while a long scoring run progresses, and stream; a
columnar format would force one schema on all of them.

Fields:

- ``dataset``   where the prompt comes from (``genai-bench-527``, ``agiqa-3k``, ``tifa-human``, a
  user's own prompt file name). Scores are comparable only within one dataset.
- ``prompt_id`` the prompt's id, unique within the dataset.
- ``prompt``    the prompt text.
- ``model``     the model that made the image (names as in the source data).
- ``sample``    which image of this (prompt, model): a seed, an image file name, or ``"0"``.
- ``metric``    the metric's name (``alignment``, ``quality``, ``definition``, …).
- ``score``     the score, higher is better, on the metric's own scale (Likert 1–5, MOS 0–5,
  CLIP quality 0–1). With several raters it is their mean.
- ``source``    how the score was made: ``human:<study>`` or ``clip:<model>/<pretrained>``.
- ``n_ratings`` how many raters the mean is over (1 for a computed score).
- ``ratings``   the raters' individual scores where known, else null.
- ``image``     the image path where known, else null.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from routet2i.errors import DataError


@dataclass(frozen=True)
class Rating:
    """One row of the ratings table (see the module docstring for the fields)."""

    dataset: str
    prompt_id: str
    prompt: str
    model: str
    sample: str
    metric: str
    score: float
    source: str
    n_ratings: int = 1
    ratings: tuple[float, ...] | None = None
    image: str | None = None

    def to_json(self) -> str:
        d = asdict(self)
        if self.ratings is not None:
            d["ratings"] = list(self.ratings)
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rating:
        ratings = d.get("ratings")
        return cls(
            dataset=str(d["dataset"]),
            prompt_id=str(d["prompt_id"]),
            prompt=str(d["prompt"]),
            model=str(d["model"]),
            sample=str(d.get("sample", "0")),
            metric=str(d["metric"]),
            score=float(d["score"]),
            source=str(d.get("source", "")),
            n_ratings=int(d.get("n_ratings", 1)),
            ratings=tuple(float(r) for r in ratings) if ratings is not None else None,
            image=d.get("image"),
        )


@dataclass
class RatingsTable:
    """A list of :class:`Rating` rows with JSONL I/O and grouped views."""

    rows: list[Rating] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Rating]:
        return iter(self.rows)

    def extend(self, rows: Iterable[Rating]) -> None:
        self.rows.extend(rows)

    # -- I/O -------------------------------------------------------------------------------------
    def write(self, path: str | Path) -> None:
        """Write all rows as JSONL (atomically: a temporary file renamed into place)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for row in self.rows:
                f.write(row.to_json() + "\n")
        tmp.replace(p)

    @classmethod
    def read(cls, *paths: str | Path) -> RatingsTable:
        """Read and concatenate JSONL ratings files. A malformed line names its file and line."""
        table = cls()
        for path in paths:
            p = Path(path)
            if not p.is_file():
                raise DataError(f"ratings file not found: {p}")
            with p.open(encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        table.rows.append(Rating.from_dict(json.loads(line)))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise DataError(f"{p}:{lineno}: not a ratings row ({exc!r})") from exc
        return table

    # -- views -----------------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self.rows})

    def models(self, dataset: str | None = None) -> list[str]:
        return sorted({r.model for r in self.rows if dataset is None or r.dataset == dataset})

    def metrics(self, dataset: str | None = None) -> list[str]:
        return sorted({r.metric for r in self.rows if dataset is None or r.dataset == dataset})

    def prompts(self) -> dict[tuple[str, str], str]:
        """(dataset, prompt_id) → prompt text."""
        return {(r.dataset, r.prompt_id): r.prompt for r in self.rows}

    def mean_scores(self) -> dict[tuple[str, str, str, str], float]:
        """(dataset, prompt_id, model, metric) → score averaged over samples (weighted by raters)."""
        num: dict[tuple[str, str, str, str], float] = defaultdict(float)
        den: dict[tuple[str, str, str, str], float] = defaultdict(float)
        for r in self.rows:
            key = (r.dataset, r.prompt_id, r.model, r.metric)
            num[key] += r.score * r.n_ratings
            den[key] += r.n_ratings
        return {k: num[k] / den[k] for k in num}
