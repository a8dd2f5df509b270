"""Image manifests (the pipeline's output format) → entries with prompt, model, seed and ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry, read_manifest, write_manifest
from routet2i.prompt_ids import default_prompt_id


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_read_manifest_resolves_paths_and_fills_defaults(tmp_path: Path) -> None:
    rows = [
        {"image": "img/a.png", "prompt": "a cat", "model": "sd-turbo", "seed": 7, "steps": 1},
        {"image": "img/b.png", "prompt": "a cat", "model": "sdxl", "seed": 7, "dataset": "coco", "prompt_id": 12},
    ]
    manifest = write_jsonl(tmp_path / "pairs.jsonl", rows)
    a, b = read_manifest(manifest)
    assert a.image == tmp_path / "img" / "a.png" and a.sample == "7" and a.extra == {"steps": 1}
    assert (a.dataset, a.prompt_id) == ("pairs", default_prompt_id("a cat"))
    assert (b.dataset, b.prompt_id, b.model) == ("coco", "12", "sdxl")
    assert read_manifest(manifest, default_dataset="mine")[0].dataset == "mine"


def test_write_then_read_round_trips_with_relative_paths(tmp_path: Path) -> None:
    entries = [
        ManifestEntry(
            tmp_path / "out" / "edge" / "0.png", "a cat", "sd-turbo", "genai", "p1", seed=3, extra={"steps": 1}
        ),
        ManifestEntry(tmp_path / "out" / "cloud" / "0.png", "a cat", "sdxl", "genai", "p1", seed=3),
    ]
    manifest = tmp_path / "out" / "manifest.jsonl"
    write_manifest(manifest, entries)
    first = json.loads(manifest.read_text().splitlines()[0])
    assert first == {
        "image": "edge/0.png", "prompt": "a cat", "prompt_id": "p1", "dataset": "genai",
        "model": "sd-turbo", "seed": 3, "steps": 1,
    }  # fmt: skip
    assert read_manifest(manifest) == entries


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"prompt": "x", "model": "m", "seed": 1}', "'image'"),
        ('{"image": "a.png", "prompt": " ", "model": "m", "seed": 1}', "'prompt'"),
        ('{"image": "a.png", "prompt": "x", "seed": 1}', "'model'"),
        ('{"image": "a.png", "prompt": "x", "model": "m"}', "'seed' must be an integer"),
        ('{"image": "a.png", "prompt": "x", "model": "m", "seed": "7"}', "'seed' must be an integer"),
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_manifest_lines_name_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    good = '{"image": "a.png", "prompt": "x", "model": "m", "seed": 1}'
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(DataError, match=f"m.jsonl:3: .*{expected}"):
        read_manifest(manifest)


def test_manifest_model_may_come_from_the_caller(tmp_path: Path) -> None:
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"image": "a.png", "prompt": "x", "seed": 1}])
    assert read_manifest(manifest, default_model="sd-turbo")[0].model == "sd-turbo"


def test_missing_or_empty_manifest_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="lists no images"):
        read_manifest(tmp_path / "empty.jsonl")
