"""``routet2i replay`` end to end: a ratings table and a tiny router checkpoint loaded through the
product's own code, results.json and the plot written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routet2i.cli import main
from routet2i.ratings.table import Rating, RatingsTable

SUBJECTS = ["cat", "dog", "house", "tree", "car", "boat", "bird", "horse", "lamp", "chair", "clock", "river"]
STYLES = ["photo", "sketch", "painting", "render", "poster"]


def _table(path: Path, seed: int = 0) -> Path:
    """60 prompts; the cloud is better exactly on the "glass" ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (subject, style) in enumerate((s, t) for s in SUBJECTS for t in STYLES):
        glass = i % 3 == 0
        prompt = f"a {style} of a {'glass ' if glass else ''}{subject}"
        edge = float(rng.normal(3.0, 0.3))
        cloud = edge + (1.5 if glass else -0.2) + float(rng.normal(0.0, 0.2))
        for model, score in (("edge-m", edge), ("cloud-m", cloud)):
            rows.append(Rating("toy", f"p{i}", prompt, model, "0", "alignment", score, "test"))
    table = RatingsTable()
    table.extend(rows)
    table.write(path)
    return path


def _replay(tmp_path: Path, router: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "replay"
    args = ["replay", "--ratings", str(_table(tmp_path / "toy.jsonl")), "--pair", "toy/edge-m:cloud-m"]
    args += ["--router", str(router), "--shadow-rate", "0.5", "--retrain-every", "10", "--repeats", "2"]
    assert main([*args, "--out", str(out), *extra]) == 0
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    return results


def test_replay_writes_results_and_the_plot(tiny_router_dir: Path, tmp_path: Path) -> None:
    results = _replay(tmp_path, tiny_router_dir)
    for key in ("pair", "shadow_rate", "n_prompts", "n_shadow", "apgr_start", "apgr_final", "promotions"):
        assert key in results
    assert results["pair"] == "toy/edge-m:cloud-m" and results["n_prompts"] == 60 and results["shadow_rate"] == 0.5
    assert results["repeats"] == 2 and len(results["runs"]) == 2
    run = results["runs"][0]
    assert run["curve"][0]["reason"] == "start" and run["curve"][0]["n_shadow"] == 0
    assert [c["n_shadow"] for c in run["curve"][1:]] == list(range(10, run["n_shadow"] + 1, 10))
    assert results["router"]["checkpoint"] == str(tiny_router_dir)
    assert (tmp_path / "replay" / "learning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_the_results_are_still_written(
    tiny_router_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results = _replay(tmp_path, tiny_router_dir, "--repeats", "1")
    assert results["repeats"] == 1 and not (tmp_path / "replay" / "learning.png").exists()
    assert any("matplotlib is not installed" in r.getMessage() for r in caplog.records)


def test_a_pair_the_table_lacks_is_a_clear_error(
    tiny_router_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _table(tmp_path / "toy.jsonl")
    args = ["replay", "--ratings", str(table), "--pair", "toy/edge-m:nope", "--router", str(tiny_router_dir)]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "routet2i replay: error:" in capsys.readouterr().err
