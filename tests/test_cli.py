"""The ``routet2i`` command: every subcommand has --help, and help imports nothing heavy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from routet2i.cli import COMMANDS, main


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from routet2i.cli import build_parser; build_parser();"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'open_clip') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert command in out
    # a usage example split over lines stays split (a backslash-newline in a docstring joins them)
    assert not re.search(r"\] {4,}\[", out), out


def test_import_ratings_end_to_end(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tifa.jsonl"
    assert main(["import-ratings", "tifa-human", "--data-dir", str(shared_data), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1600 and {"prompt_id", "prompt", "model", "metric", "score", "source"} <= rows[0].keys()
    assert "160 prompts" in capsys.readouterr().err


def test_expected_failure_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-ratings", "agiqa-3k", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "agiqa-3k" in capsys.readouterr().err
