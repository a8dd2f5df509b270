"""Folders of images (with a prompt mapping) → manifest entries with prompt, model and ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routet2i.errors import DataError
from routet2i.prompt_ids import default_prompt_id
from routet2i.quality.folder import entries_from_folder, read_prompt_mapping


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")  # content is irrelevant to listing
    return folder


def test_folder_prompts_from_mapping_sidecar_or_filename(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ["b_red-car.JPG", "a.png", "c.webp", "notes.md"])
    (folder / "c.txt").write_text("a green tree\n")
    entries = entries_from_folder(folder, model="sd-turbo", prompts={"a": "a cat"}, prompt_from_filename=True)
    assert [(e.image.name, e.prompt) for e in entries] == [
        ("a.png", "a cat"), ("b_red-car.JPG", "b red car"), ("c.webp", "a green tree"),
    ]  # fmt: skip
    assert all(e.model == "sd-turbo" and e.dataset == "imgs" and e.seed is None for e in entries)
    assert entries[0].sample == "a.png" and entries[0].prompt_id == default_prompt_id("a cat")


def test_folder_images_without_prompt_are_all_named(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ["a.png", "b.png", "c.png"])
    with pytest.raises(DataError, match=r"no prompt for 2 of 3 images .*\(b.png, c.png\).*--prompts"):
        entries_from_folder(folder, model="m", prompts={"a.png": "a cat"})
    with pytest.raises(DataError, match="no images"):
        entries_from_folder(make_folder(tmp_path / "x", ["notes.txt"]), model="m")


def test_prompt_mapping_files(tmp_path: Path) -> None:
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps({"a.png": "a cat"}))
    as_jsonl = write_jsonl(tmp_path / "p.jsonl", [{"image": "a.png", "prompt": "a cat"}])
    assert read_prompt_mapping(as_json) == read_prompt_mapping(as_jsonl) == {"a.png": "a cat"}
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(DataError, match="expected a JSON object"):
        read_prompt_mapping(tmp_path / "bad.json")
