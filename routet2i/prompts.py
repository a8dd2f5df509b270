"""Prompt files: plain text, JSON Lines, CSV and TSV, read as they are published.

One reader for every command that takes prompts (``generate-pairs``, ``calibrate``, ``route``,
``bench``). Formats (``fmt="auto"`` picks by suffix: ``.jsonl``/``.ndjson``, ``.csv``,
``.tsv``/``.tab``; any other file whose first non-blank line starts with ``{`` is JSONL; else
text). ``-`` reads standard input (text or JSONL).

- **text**: one prompt a line; blank lines are skipped; the line is the prompt (trailing
  whitespace stripped).
- **jsonl**: one JSON object a line with the prompt under ``column`` (default ``prompt``), or a
  bare JSON string.
- **csv**: RFC 4180 with a header row (quoted fields may hold commas and newlines), e.g. the
  DrawBench ``drawbench.csv`` (columns ``Prompt``, ``Category``).
- **tsv**: tab-separated with a header row, read *raw* (no quote processing: a prompt may
  start with a ``"``), e.g. ``PartiPrompts.tsv`` (``Prompt``, ``Category``, ``Challenge``, ``Note``).

For tables and JSONL, ``column`` names the prompt column (``--column Prompt``); without it a
column called ``prompt`` in any case is taken, or the only column. ``id_column`` names a column
holding the prompt's id within the dataset; without it the id is
:func:`~routet2i.prompt_ids.default_prompt_id` (a hash of the text, so the same prompt has
the same id in every file and run). The other columns are kept in :attr:`PromptRecord.fields`
(PartiPrompts' ``Category``, ``Challenge``) and travel into the manifest.

With ``unique=True`` (the default) a prompt listed twice (same id) is kept once; rows with an
empty prompt are skipped; both are logged with their line numbers. ``unique=False`` keeps every
row in order (one decision per input line for ``route``). A missing file or prompt column is a
:class:`~routet2i.errors.DataError`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from routet2i.errors import DataError
from routet2i.prompt_ids import default_prompt_id

log = logging.getLogger(__name__)

PromptFormat = Literal["auto", "text", "jsonl", "csv", "tsv"]
PROMPT_FORMATS: tuple[PromptFormat, ...] = ("auto", "text", "jsonl", "csv", "tsv")

_SUFFIX_FORMATS: dict[str, PromptFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
}


@dataclass(frozen=True)
class PromptRecord:
    """One prompt of a dataset. ``line`` is its (first) line number in the file, for messages."""

    prompt: str
    prompt_id: str
    dataset: str
    line: int = 0
    fields: dict[str, Any] = field(default_factory=dict)


def detect_format(path: Path, text: str | None = None) -> PromptFormat:
    """The format ``auto`` means for ``path``: by suffix; else JSONL when ``text``'s first
    non-blank line starts with ``{``; else text."""
    by_suffix = _SUFFIX_FORMATS.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    first = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
    return "jsonl" if first.startswith("{") else "text"


def read_prompts(
    path: str | Path,
    *,
    fmt: PromptFormat = "auto",
    column: str | None = None,
    id_column: str | None = None,
    dataset: str | None = None,
    unique: bool = True,
) -> list[PromptRecord]:
    """Every distinct prompt of ``path`` in file order (see the module docstring).

    ``dataset`` defaults to the file's stem (``PartiPrompts``, ``drawbench``; ``stdin`` for ``-``).
    """
    p = Path(path)
    if str(path) == "-":
        text = sys.stdin.read()
    elif not p.is_file():
        raise DataError(f"prompt file not found: {p}")
    else:
        text = _read_text(p)
    kind = detect_format(p, text) if fmt == "auto" else fmt
    if kind not in PROMPT_FORMATS:
        raise DataError(f"unknown prompt file format {kind!r}; expected one of {', '.join(PROMPT_FORMATS)}")
    name = dataset or (p.stem if str(path) != "-" else "stdin")
    if kind == "text":
        if column or id_column:
            raise DataError(f"{p}: a plain text prompt file has no columns (--column / --id-column apply to tables)")
        rows: Iterator[tuple[int, str, str | None, dict[str, Any]]] = _text_rows(text)
    elif kind == "jsonl":
        rows = _jsonl_rows(p, text, column, id_column)
    else:
        rows = _table_rows(p, text, kind, column, id_column)
    return _collect(p, name, rows, unique=unique)


def prompt_texts(path: str | Path, *, column: str | None = None) -> list[str]:
    """The prompts of ``path`` as strings, one per non-empty row, duplicates kept, in order."""
    return [r.prompt for r in read_prompts(path, column=column, unique=False)]


def sample_prompts(records: list[PromptRecord], limit: int | None, seed: int | None) -> list[PromptRecord]:
    """The first ``limit`` prompts (all with None); with ``seed``, a seeded random sample of
    ``limit`` prompts (kept in file order), the same for the same file and seed."""
    if limit is not None and limit < 0:
        raise DataError(f"--limit must be >= 0, got {limit}")
    if limit is None or limit >= len(records):
        return list(records)
    if seed is None:
        return records[:limit]
    chosen = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in chosen]


def _collect(
    path: Path, dataset: str, rows: Iterator[tuple[int, str, str | None, dict[str, Any]]], *, unique: bool
) -> list[PromptRecord]:
    records: list[PromptRecord] = []
    seen: dict[str, PromptRecord] = {}
    empty: list[int] = []
    repeated: list[int] = []
    for line, prompt, given_id, fields in rows:
        text = prompt.strip()
        if not text:
            empty.append(line)
            continue
        prompt_id = given_id.strip() if given_id is not None and given_id.strip() else default_prompt_id(text)
        first = seen.get(prompt_id) if unique else None
        if first is not None:
            if first.prompt != text:
                raise DataError(
                    f"{path}:{line}: prompt id {prompt_id!r} is already used at line {first.line} for another prompt"
                )
            repeated.append(line)
            continue
        record = PromptRecord(prompt=text, prompt_id=prompt_id, dataset=dataset, line=line, fields=fields)
        seen[prompt_id] = record
        records.append(record)
    if empty:
        log.warning("%s: skipped %d rows with an empty prompt (lines %s)", path, len(empty), _lines(empty))
    if repeated:
        log.warning("%s: %d prompts listed more than once, kept once (lines %s)", path, len(repeated), _lines(repeated))
    if not records:
        raise DataError(f"{path}: no prompts found")
    return records


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (", …" if len(numbers) > 10 else "")


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not end up in the first column's name.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None


def _lines_of(text: str) -> list[str]:
    """Lines split at \\n, \\r\\n or \\r only (never at Unicode separators inside a prompt)."""
    return [line.rstrip("\n") for line in io.StringIO(text, newline=None)]


def _text_rows(text: str) -> Iterator[tuple[int, str, str | None, dict[str, Any]]]:
    for lineno, line in enumerate(_lines_of(text), 1):
        yield lineno, line, None, {}


def _jsonl_rows(
    path: Path, text: str, column: str | None, id_column: str | None
) -> Iterator[tuple[int, str, str | None, dict[str, Any]]]:
    for lineno, line in enumerate(_lines_of(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not JSON ({exc})") from None
        if isinstance(row, str):
            if column or id_column:
                raise DataError(f"{path}:{lineno}: a bare JSON string has no {column or id_column!r} field")
            yield lineno, row, None, {}
            continue
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object or string, got {type(row).__name__}")
        key = _pick_column(path, list(row), column, what="prompt field", where=f"{path}:{lineno}")
        prompt = row[key]
        if not isinstance(prompt, str):
            raise DataError(f"{path}:{lineno}: {key!r} must be a string, got {type(prompt).__name__}")
        given_id: str | None = None
        if id_column is not None:
            if id_column not in row:
                raise DataError(f"{path}:{lineno}: no {id_column!r} field (--id-column); fields: {', '.join(row)}")
            given_id = str(row[id_column])
        extra = {k: v for k, v in row.items() if k not in (key, id_column)}
        yield lineno, prompt, given_id, extra


def _table_rows(
    path: Path, text: str, kind: str, column: str | None, id_column: str | None
) -> Iterator[tuple[int, str, str | None, dict[str, Any]]]:
    if kind == "tsv":
        reader = csv.reader(_lines_of(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty file (expected a header row)") from None
    except csv.Error as exc:
        raise DataError(f"{path}:1: not valid {kind.upper()} ({exc})") from None
    header = [h.strip() for h in header]
    key = _pick_column(path, header, column, what="prompt column", where=str(path))
    prompt_index = header.index(key)
    id_index: int | None = None
    if id_column is not None:
        if id_column not in header:
            raise DataError(f"{path}: no column {id_column!r} (--id-column); columns: {', '.join(header)}")
        id_index = header.index(id_column)
    try:
        for cells in reader:
            lineno = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            cells = cells + [""] * (len(header) - len(cells))
            extra = {
                name: cells[i]
                for i, name in enumerate(header)
                if i not in (prompt_index, id_index) and name and cells[i].strip()
            }
            given_id = cells[id_index] if id_index is not None else None
            yield lineno, cells[prompt_index], given_id, extra
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid {kind.upper()} ({exc})") from None


def _pick_column(path: Path, names: list[str], column: str | None, *, what: str, where: str) -> str:
    """``column`` if present (exact, else its only case-insensitive match); without ``column``,
    the one named ``prompt`` in any case, or the only one."""
    if column is not None:
        if column in names:
            return column
        folded = [n for n in names if n.lower() == column.lower()]
        if len(folded) == 1:
            return folded[0]
        raise DataError(f"{where}: no {what} {column!r} (--column); found: {', '.join(names) or 'none'}")
    folded = [n for n in names if n.lower() == "prompt"]
    if len(folded) == 1:
        return folded[0]
    if len(names) == 1:
        return names[0]
    raise DataError(f"{where}: which {what} holds the prompt? name it with --column; found: {', '.join(names)}")
