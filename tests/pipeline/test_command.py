"""``routet2i generate-pairs`` end to end with in-process workers (worker configs as tiers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routet2i.cli import main
from routet2i.pipeline.manifest import read_manifest
from tests.pipeline.conftest import CLOUD_MODEL, EDGE_MODEL, TierConfigs

PROMPTS = (
    'Prompt,Category\nA red colored car.,Colors\n"A sign that says ""hi, there"".",Text\nA cat on a mat.,Animals\n'
)


def test_generate_pairs_with_in_process_workers(
    tier_configs: TierConfigs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "bench.csv"
    prompts.write_text(PROMPTS, encoding="utf-8")
    out = tmp_path / "run"
    args = [
        "generate-pairs",
        "--prompts", str(prompts),
        "--column", "Prompt",
        "--edge", str(tier_configs.edge),
        "--cloud", str(tier_configs.cloud),
        "--seeds", "2",
        "--cloud-param", "steps=3",
        "--out", str(out),
        "--no-progress",
    ]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "3 prompts x 2 seeds x 2 tiers = 12 images" in err
    assert f"--pair bench/{EDGE_MODEL}:{CLOUD_MODEL}" in err

    entries = read_manifest(out / "manifest.jsonl")
    assert len(entries) == 12
    assert {(e.model, e.extra["tier"]) for e in entries} == {(EDGE_MODEL, "edge"), (CLOUD_MODEL, "cloud")}
    assert {e.extra["parameters"]["steps"] for e in entries if e.model == CLOUD_MODEL} == {3}
    assert {e.extra["parameters"]["steps"] for e in entries if e.model == EDGE_MODEL} == {2}
    assert {e.dataset for e in entries} == {"bench"}
    sign = [e for e in entries if e.prompt.startswith("A sign")]
    assert sign[0].prompt == 'A sign that says "hi, there".' and sign[0].extra["prompt_fields"] == {"Category": "Text"}
    # Paired: each prompt and seed once per model, with the same prompt_id on both tiers.
    assert len({(e.model, e.prompt_id, e.seed) for e in entries}) == 12
    assert {(e.prompt_id, e.seed) for e in entries if e.model == EDGE_MODEL} == {
        (e.prompt_id, e.seed) for e in entries if e.model == CLOUD_MODEL
    }
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["tiers"]["cloud"]["parameters"]["steps"] == 3 and run_info["seeds"] == [0, 1]
    prompt_lines = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert [p["prompt"] for p in prompt_lines] == [
        "A red colored car.",
        'A sign that says "hi, there".',
        "A cat on a mat.",
    ]

    # The same command again: nothing left to do.
    before = (out / "manifest.jsonl").read_bytes()
    assert main(args) == 0
    assert capsys.readouterr().err.count("6 planned, 6 already done, 0 made, 0 failed") == 2
    assert (out / "manifest.jsonl").read_bytes() == before

    # More seeds with other parameters into the same folder would mix incomparable images: refused.
    changed = [a if a != "steps=3" else "steps=4" for a in args] + ["--seed-base", "2"]
    assert main(changed) == 2
    assert "cloud parameters" in capsys.readouterr().err
    assert (out / "manifest.jsonl").read_bytes() == before


def test_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\n")
    base = ["generate-pairs", "--prompts", str(prompts), "--edge", "http://x", "--cloud", "http://y", "--out", "o"]
    assert main([*base, "--sample-seed", "1"]) == 2
    assert "--sample-seed goes with --limit" in capsys.readouterr().err
    assert main([*base, "--edge-concurrency", "0"]) == 2
    assert "--edge-concurrency must be >= 1" in capsys.readouterr().err
    assert main([*base, "--edge-param", "seed=3"]) == 2
    assert "--edge-param 'seed=3'" in capsys.readouterr().err
