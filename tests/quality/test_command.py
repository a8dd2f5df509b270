"""``routet2i score`` end to end on tiny PNGs with the tiny CLIP models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routet2i.cli import main
from routet2i.quality.backend import ClipBackend
from routet2i.quality.images import load_rgb
from routet2i.quality.metrics import load_metric_set
from routet2i.quality.scorer import QualityScorer
from routet2i.ratings.table import RatingsTable
from tests.quality.conftest import TinyClip

N_METRICS = 10


@pytest.fixture()
def pairs(tmp_path: Path, images: list[Any]) -> Path:
    """A manifest of four images (two prompts x two models), one of them not a PNG at all."""
    folder = tmp_path / "pairs"
    (folder / "img").mkdir(parents=True)
    rows = []
    for i, (prompt, model) in enumerate([("a cat", "edge"), ("a cat", "cloud"), ("a dog", "edge"), ("a dog", "cloud")]):
        name = f"img/{i}.png"
        if i == 2:
            (folder / name).write_bytes(b"this is not a PNG")
        else:
            images[i].save(folder / name)
        rows.append({"image": name, "prompt": prompt, "model": model, "seed": 100 + i, "dataset": "demo"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def open_clip_args(tiny_clip: TinyClip) -> list[str]:
    return [
        "--clip-model",
        tiny_clip.open_clip_name,
        "--pretrained",
        str(tiny_clip.open_clip_weights),
        "--device",
        "cpu",
    ]


def test_unreadable_image_fails_the_run_by_default(
    pairs: Path, tmp_path: Path, tiny_clip: TinyClip, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ratings.jsonl"
    assert main(["score", str(pairs), "--out", str(out), *open_clip_args(tiny_clip)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read image {pairs.parent / 'img' / '2.png'}" in err and "--on-error skip" in err
    assert not out.exists()


def test_skip_scores_the_rest_and_reports_the_skipped(
    pairs: Path,
    tmp_path: Path,
    tiny_clip: TinyClip,
    loaded_backends: dict[str, ClipBackend],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "ratings.jsonl"
    argv = ["score", str(pairs), "--out", str(out), "--on-error", "skip", "--batch-size", "2"]
    assert main([*argv, *open_clip_args(tiny_clip)]) == 0
    err = capsys.readouterr().err
    assert "scored 3 of 4 images: 30 rows" in err
    assert "skipped 1 unreadable images" in err and str(pairs.parent / "img" / "2.png") in err

    table = RatingsTable.read(out)
    assert len(table) == 3 * N_METRICS
    assert {r.source for r in table} == {f"clip:{tiny_clip.open_clip_name}/{tiny_clip.open_clip_weights}"}
    assert sorted({(r.model, r.sample) for r in table}) == [("cloud", "101"), ("cloud", "103"), ("edge", "100")]
    assert table.metrics() == sorted(load_metric_set().names) and table.datasets() == ["demo"]
    first = [r for r in table if r.sample == "100"]
    assert first[0].image == str(pairs.parent / "img" / "0.png") and first[0].prompt == "a cat"
    # the same numbers as the scorer gives for that image
    scorer = QualityScorer(loaded_backends["open_clip"], load_metric_set())
    expected = scorer.score([load_rgb(pairs.parent / "img" / "0.png")])[0]
    assert {r.metric: r.score for r in first} == pytest.approx(expected, abs=1e-6)
    # edge and cloud images of one prompt share its prompt_id (what pairing needs)
    assert len({r.prompt_id for r in table if r.prompt == "a cat"}) == 1


def test_missing_image_fails_before_scoring(
    pairs: Path, tmp_path: Path, tiny_clip: TinyClip, capsys: pytest.CaptureFixture[str]
) -> None:
    (pairs.parent / "img" / "3.png").unlink()
    assert main(["score", str(pairs), "--out", str(tmp_path / "r.jsonl"), *open_clip_args(tiny_clip)]) == 2
    assert f"1 of 4 images not found: {pairs.parent / 'img' / '3.png'}" in capsys.readouterr().err


def test_folder_with_prompts_on_the_transformers_backend(
    tmp_path: Path, images: list[Any], tiny_clip: TinyClip, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        images[i].save(folder / f"{i}.png")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"0.png": "a cat", "1": "a dog", "2.png": "a bird"}))
    out = tmp_path / "r.jsonl"
    argv = ["score", str(folder), "--model", "sd-turbo", "--prompts", str(prompts), "--alignment", "--out", str(out)]
    backend = ["--backend", "transformers", "--clip-model", str(tiny_clip.transformers_dir), "--device", "cpu"]
    assert main([*argv, *backend]) == 0
    table = RatingsTable.read(out)
    assert len(table) == 3 * (N_METRICS + 1) and "alignment" in table.metrics()
    assert {(r.sample, r.prompt) for r in table} == {("0.png", "a cat"), ("1.png", "a dog"), ("2.png", "a bird")}
    assert {r.model for r in table} == {"sd-turbo"} and {r.dataset for r in table} == {"shots"}
    assert all(-1 <= r.score <= 1 for r in table if r.metric == "alignment")
    assert "scored 3 of 3 images" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--model", "m", "--prompts", "p.json"], "--prompts / --prompt-from-filename apply to a folder"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--backend", "transformers", "--pretrained", "openai"], "--pretrained applies to the open_clip backend"),
    ],
)
def test_bad_invocations_exit_2_with_a_message(
    pairs: Path, tmp_path: Path, extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", str(pairs), "--out", str(tmp_path / "r.jsonl"), *extra]) == 2
    assert expected in capsys.readouterr().err


def test_folder_needs_model_and_source_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path), "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
