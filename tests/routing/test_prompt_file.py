"""Prompt files: one prompt a line, or JSONL with `prompt`."""

from __future__ import annotations

from pathlib import Path

import pytest

from routet2i.errors import DataError
from routet2i.routing.prompt_file import read_prompts


def test_text_and_jsonl(tmp_path: Path) -> None:
    text = tmp_path / "p.txt"
    text.write_text("a red cube\n\n  two cats  \n", encoding="utf-8")
    assert read_prompts(text) == ["a red cube", "two cats"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a red cube", "id": 1}\n{"prompt": "café à Paris"}\n', encoding="utf-8")
    assert read_prompts(jsonl) == ["a red cube", "café à Paris"]


def test_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        read_prompts(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no prompt"):
        read_prompts(empty)
    with pytest.raises(DataError, match="not found"):
        read_prompts(tmp_path / "missing.txt")
