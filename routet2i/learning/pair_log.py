"""The learner's own record of the shadow pairs it has taken in: append-only, crash-safe.

In the learner's folder::

    pairs.jsonl     one line per scored pair: pair_id, prompt, and each tier's score per metric
    skipped.jsonl   one line per pair left out: pair_id, the image, the reason
    state.json      how many pairs the last retrain saw (rewritten atomically)

A pair is appended (flushed and fsync-ed) only once both its images are scored; a pair id in
either file is never taken in again, so a crash or kill at any point loses nothing and counts
nothing twice (a torn last line is dropped on reading: that pair is simply scored again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from routet2i.pipeline.store import append_jsonl, atomic_write_bytes
from routet2i.superiority import FloatArray

PAIRS_FILE = "pairs.jsonl"
SKIPPED_FILE = "skipped.jsonl"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class ScoredPair:
    """A shadow pair with both images scored (raw CLIP scores per metric)."""

    pair_id: str
    prompt: str
    cheap: dict[str, float]
    expensive: dict[str, float]


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line: the pair is taken in again
        if isinstance(row, dict):
            out.append(row)
    return out


class PairLog:
    """The folder ``root`` (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def pairs(self) -> list[ScoredPair]:
        """Every scored pair, in the order taken in (the first of a repeated id wins)."""
        seen: set[str] = set()
        out = []
        for row in _read_lines(self.root / PAIRS_FILE):
            if row["pair_id"] not in seen:
                seen.add(row["pair_id"])
                out.append(ScoredPair(row["pair_id"], row["prompt"], row["cheap"], row["expensive"]))
        return out

    def skipped(self) -> list[dict[str, Any]]:
        return _read_lines(self.root / SKIPPED_FILE)

    def taken(self) -> set[str]:
        """The ids of every pair scored or skipped."""
        return {p.pair_id for p in self.pairs()} | {str(s["pair_id"]) for s in self.skipped()}

    def add(self, pairs: list[ScoredPair]) -> None:
        append_jsonl(self.root / PAIRS_FILE, [p.__dict__ for p in pairs])

    def skip(self, pair_id: str, image: str, reason: str) -> None:
        append_jsonl(self.root / SKIPPED_FILE, [{"pair_id": pair_id, "image": image, "reason": reason}])

    def state(self) -> dict[str, Any]:
        f = self.root / STATE_FILE
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}

    def save_state(self, **state: Any) -> None:
        text = json.dumps({**self.state(), **state}, indent=2) + "\n"
        atomic_write_bytes(self.root / STATE_FILE, text.encode("utf-8"))


def tier_quality(pairs: list[ScoredPair]) -> tuple[FloatArray, FloatArray]:
    """Each tier's quality per pair: every metric z-scored over all the pairs' images (both
    tiers), then averaged over the metrics the pair has on both tiers."""
    metrics = sorted({m for p in pairs for m in p.cheap} & {m for p in pairs for m in p.expensive})
    if not pairs or not metrics:
        return np.zeros(len(pairs)), np.zeros(len(pairs))
    cheap = np.array([[p.cheap.get(m, np.nan) for m in metrics] for p in pairs], dtype=np.float64)
    expensive = np.array([[p.expensive.get(m, np.nan) for m in metrics] for p in pairs], dtype=np.float64)
    both = np.concatenate([cheap, expensive])
    mean, sd = np.nanmean(both, axis=0), np.nanstd(both, axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    zc, ze = (cheap - mean) / sd, (expensive - mean) / sd
    present = ~np.isnan(zc) & ~np.isnan(ze)
    count = np.maximum(present.sum(axis=1), 1)
    return np.where(present, zc, 0.0).sum(axis=1) / count, np.where(present, ze, 0.0).sum(axis=1) / count
