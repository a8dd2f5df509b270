"""``routet2i bench``: the suites without a gateway stack run end to end at toy sizes (the stack
suites are exercised by the other tests of this folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routet2i.cli import main

pytestmark = pytest.mark.slow


def test_bench_worker_and_router(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "worker.json"
    assert (
        main(
            [
                "bench",
                "worker",
                "--requests",
                "4",
                "--rounds",
                "1",
                "--max-batch",
                "4",
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    worker = json.loads(out.read_text())
    assert worker["batching_on"]["images_per_s"] > 0 and worker["batching_off"]["pipeline_calls"] == 4
    assert worker["batching_on"]["pipeline_calls"] < 4  # the burst was batched
    out = tmp_path / "router.json"
    argv = [
        "bench",
        "router",
        "--single",
        "5",
        "--batches",
        "2",
        "--batch-size",
        "4",
        "--threads",
        "1",
        "--n-metrics",
        "2",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    router = json.loads(out.read_text())
    assert [(r["threads"], r["batch"]) for r in router["runs"]] == [(1, 1), (1, 4)]
    assert all(r["decisions_per_s"] > 0 and r["encoder_ms"]["count"] > 0 for r in router["runs"])
    assert "| threads | batch |" in capsys.readouterr().out


def test_bench_overhead_measures_every_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "overhead.json"
    assert main(["bench", "overhead", "--requests", "5", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())["overhead"]
    for variant in ("direct", "passthrough", "forced", "cached", "auto"):
        assert figures[f"{variant}_ms"]["p50"] > 0, variant
    assert figures["router_ms"]["p50"] > 0  # new prompts: the router ran
    text = capsys.readouterr().out
    assert "through a bare proxy (floor)" in text and "gateway, forced tier" in text
