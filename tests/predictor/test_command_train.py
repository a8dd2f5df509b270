"""The CLI end to end on a tiny BERT built in code: train → calibrate → route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routet2i.cli import main
from routet2i.predictor.checkpoint import default_checkpoint_dir, read_meta
from routet2i.testing.text_encoders import save_tiny_bert
from tests.predictor.keyword_data import keyword_prompts, keyword_ratings

PAIR = "synthetic/edge-model:cloud-model"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    ratings = root / "ratings.jsonl"
    keyword_ratings(90).write(ratings)
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(keyword_prompts(50, seed=7)) + "\n", encoding="utf-8")
    return {"root": root, "ratings": ratings, "prompts": prompts, "bert": save_tiny_bert(root / "bert")}


@pytest.fixture(scope="module")
def trained(workdir: dict[str, Path]) -> Path:
    out = workdir["root"] / "router"
    args = ["train", "--ratings", str(workdir["ratings"]), "--pair", PAIR, "--out", str(out)]
    args += ["--encoder", f"hf:{workdir['bert']}", "--epochs", "2", "--lr", "0.01", "--seed", "3", "--no-progress"]
    assert main(args) == 0
    return out


def test_train_writes_a_checkpoint_with_its_figures(
    trained: Path, workdir: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    meta = read_meta(trained)
    assert meta.encoder == f"hf:{workdir['bert']}"
    assert meta.metrics == ["alignment", "quality"]
    assert meta.architecture.d_model == 32 and meta.architecture.n_metrics == 2
    assert meta.training["optimiser"]["seed"] == 3 and meta.training["optimiser"]["epochs"] == 2
    assert meta.training["pairs"] == [PAIR] and meta.training["data_id"].startswith("sha1:")
    assert meta.training["ratings"][0]["path"] == str(workdir["ratings"])
    figs = meta.validation["validation"]
    assert {"d_mse", "spearman_prs", "pgr_at_50"} <= set(figs)
    assert PAIR in meta.mu_gaps and meta.calibration is not None


def test_calibrate_then_route(trained: Path, workdir: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    args = ["calibrate", "--checkpoint", str(trained), "--prompts", str(workdir["prompts"]), "--budget", "0.3"]
    assert main([*args, "--budget", "0.1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["budget"] for x in lines] == [0.3, 0.1]
    for x in lines:
        assert x["n_prompts"] == 50 and x["threshold"] <= 0.5
        assert x["budget"] * 50 - 1 < x["cloud_share"] * 50 <= x["budget"] * 50 or x["threshold"] == 0.5
    cal = read_meta(trained).calibration
    assert cal is not None and cal["prompts_id"].startswith("sha1:") and cal["n_prompts"] == 50

    out_file = workdir["root"] / "decisions.jsonl"
    route = ["route", "--checkpoint", str(trained), "--input", str(workdir["prompts"]), "--budget", "0.3"]
    assert main([*route, "--output", str(out_file)]) == 0
    err = capsys.readouterr().err
    assert "prompts/s" in err
    rows = [json.loads(x) for x in out_file.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 50
    assert rows[0]["prompt"] == workdir["prompts"].read_text(encoding="utf-8").splitlines()[0]
    assert all(set(r) == {"prompt", "prs", "metrics", "tier", "threshold"} for r in rows)
    assert all(r["tier"] == ("cloud" if r["prs"] < r["threshold"] else "edge") for r in rows)
    share = sum(r["tier"] == "cloud" for r in rows) / len(rows)
    assert share == pytest.approx(lines[0]["cloud_share"])  # same prompts as calibrated: same share

    assert main(["route", "--checkpoint", str(trained), "a zebra near a castle", "--threshold", "0.7"]) == 0
    (row,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["prompt"] == "a zebra near a castle" and row["threshold"] == 0.7
    assert set(row["metrics"]) == {"alignment", "quality"}


def test_single_pair_with_edge_and_cloud_flags(workdir: dict[str, Path]) -> None:
    out = workdir["root"] / "single"
    args = ["train", "--ratings", str(workdir["ratings"]), "--edge", "edge-model", "--cloud", "cloud-model"]
    args += ["--out", str(out), "--encoder", f"hf:{workdir['bert']}", "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    assert read_meta(out).training["pairs"] == ["edge-model:cloud-model"]


def test_expected_failures_exit_2(workdir: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--ratings", str(workdir["ratings"]), "--out", str(workdir["root"] / "x")]
    assert main(base) == 2
    assert "name a pair" in capsys.readouterr().err
    assert main([*base, "--pair", "synthetic/nope:cloud-model"]) == 2
    assert "not in the ratings" in capsys.readouterr().err
    assert main(["route", "--checkpoint", str(workdir["root"] / "missing"), "a cat"]) == 2
    assert "no checkpoint folder" in capsys.readouterr().err
    if not (default_checkpoint_dir() / "config.json").is_file():
        assert main(["route", "a cat"]) == 2
        assert "no packaged default router" in capsys.readouterr().err
