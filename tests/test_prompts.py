"""Prompt file readers: every format, column choice, ids, duplicates, and the real published files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routet2i.errors import DataError
from routet2i.prompt_ids import default_prompt_id
from routet2i.prompts import detect_format, prompt_texts, read_prompts, sample_prompts


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_text_one_prompt_a_line_blank_lines_skipped(tmp_path: Path) -> None:
    p = write(tmp_path / "mine.txt", "a red fox\n\n  a blue whale  \r\nthe word \u201cmoon\u201d\n")
    records = read_prompts(p)
    assert [r.prompt for r in records] == ["a red fox", "a blue whale", "the word \u201cmoon\u201d"]
    assert [r.line for r in records] == [1, 3, 4]
    assert {r.dataset for r in records} == {"mine"}
    assert records[0].prompt_id == default_prompt_id("a red fox")


def test_text_keeps_unicode_line_separators_inside_a_prompt(tmp_path: Path) -> None:
    p = write(tmp_path / "u.txt", "left\u2028right\nnext\n")
    assert [r.prompt for r in read_prompts(p)] == ["left\u2028right", "next"]


def test_jsonl_objects_strings_column_and_ids(tmp_path: Path) -> None:
    rows = [
        {"prompt": "a cat", "id": "p1", "category": "animals"},
        "a bare string prompt",
        {"prompt": "a dog", "id": "p2"},
    ]
    p = write(tmp_path / "set.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    records = read_prompts(p)
    assert [r.prompt for r in records] == ["a cat", "a bare string prompt", "a dog"]
    assert records[0].fields == {"id": "p1", "category": "animals"}

    q = write(tmp_path / "ids.jsonl", "\n".join(json.dumps(r) for r in (rows[0], rows[2])))
    with_ids = read_prompts(q, id_column="id", dataset="mine")
    assert [(r.prompt_id, r.dataset) for r in with_ids] == [("p1", "mine"), ("p2", "mine")]
    assert with_ids[0].fields == {"category": "animals"}

    r = write(tmp_path / "text.jsonl", json.dumps({"Text": "a tree", "n": 1}))
    assert read_prompts(r, column="Text")[0].prompt == "a tree"
    with pytest.raises(DataError, match=r"which prompt field.*--column.*Text, n"):
        read_prompts(r)


def test_csv_quoted_commas_and_newlines_and_bom(tmp_path: Path) -> None:
    p = write(
        tmp_path / "bench.csv",
        '\ufeffPrompt,Category\n"A sign that says ""hello, world"".",Text\n"two\nlines",Odd\nplain,Colors\n',
    )
    records = read_prompts(p, column="Prompt")
    assert [r.prompt for r in records] == ['A sign that says "hello, world".', "two\nlines", "plain"]
    assert [r.fields for r in records] == [{"Category": "Text"}, {"Category": "Odd"}, {"Category": "Colors"}]
    # Without --column, the column called "prompt" in any case is found.
    assert [r.prompt for r in read_prompts(p)] == [r.prompt for r in records]


def test_tsv_is_read_raw(tmp_path: Path) -> None:
    p = write(tmp_path / "p.tsv", 'Prompt\tNote\n"G I G G L E" painted on a wall\tquotes\nbond\t\n')
    records = read_prompts(p, column="Prompt")
    assert [r.prompt for r in records] == ['"G I G G L E" painted on a wall', "bond"]
    assert records[1].fields == {}  # empty cells are left out


def test_format_override_and_detection(tmp_path: Path) -> None:
    p = write(tmp_path / "prompts.dat", "Prompt,x\nhello,1\n")
    assert detect_format(p) == "text"
    assert [r.prompt for r in read_prompts(p)] == ["Prompt,x", "hello,1"]
    assert [r.prompt for r in read_prompts(p, fmt="csv")] == ["hello"]


def test_duplicates_kept_once_and_conflicting_ids_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path / "d.csv", "prompt,kind\na cat,x\na dog,y\na cat,x\n,z\n")
    records = read_prompts(p)
    assert [r.prompt for r in records] == ["a cat", "a dog"]
    assert "listed more than once" in caplog.text and "empty prompt" in caplog.text

    q = write(tmp_path / "ids.csv", "id,prompt\n1,a cat\n1,a dog\n")
    with pytest.raises(DataError, match=r"ids.csv:3: prompt id '1' is already used at line 2"):
        read_prompts(q, id_column="id")


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "message"),
    [
        ("x.csv", "Prompt,Category\na,b\n", {"column": "Text"}, r"no prompt column 'Text'.*Prompt, Category"),
        ("x.csv", "A,B\na,b\n", {}, r"name it with --column"),
        ("x.csv", "", {}, r"empty file"),
        ("x.csv", "prompt\n\n", {}, r"no prompts found"),
        ("x.txt", "a\n", {"column": "Prompt"}, r"plain text prompt file has no columns"),
        ("x.jsonl", "[1, 2]\n", {}, r"x.jsonl:1: expected a JSON object or string"),
        ("x.jsonl", "{oops\n", {}, r"x.jsonl:1: not JSON"),
        ("x.csv", "id,prompt\n1,a\n", {"id_column": "key"}, r"no column 'key' \(--id-column\)"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, name: str, text: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_prompts(write(tmp_path / name, text), **kwargs)  # type: ignore[arg-type]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="prompt file not found"):
        read_prompts(tmp_path / "nope.txt")


def test_sample_prompts_first_n_or_seeded_sample(tmp_path: Path) -> None:
    p = write(tmp_path / "n.txt", "\n".join(f"prompt {i}" for i in range(50)))
    records = read_prompts(p)
    assert [r.prompt for r in sample_prompts(records, 3, None)] == ["prompt 0", "prompt 1", "prompt 2"]
    a, b = sample_prompts(records, 10, 7), sample_prompts(records, 10, 7)
    assert a == b and len(a) == 10
    assert [r.line for r in a] == sorted(r.line for r in a)  # file order kept
    assert a != sample_prompts(records, 10, 8)
    assert sample_prompts(records, None, None) == records and sample_prompts(records, 99, 1) == records


@pytest.mark.shared_data
def test_real_partiprompts_tsv(shared_data: Path) -> None:
    path = shared_data / "partiprompts" / "PartiPrompts.tsv"
    records = read_prompts(path, column="Prompt", dataset="partiprompts")
    assert len(records) == 1632
    assert records[0].prompt == "bond" and records[0].fields["Category"] == "Abstract"
    assert records[0].fields["Challenge"] == "Basic"
    # A prompt that starts with a quote keeps it (a quoting CSV reader would eat it).
    giggle = [r for r in records if "G I G G L E" in r.prompt]
    assert giggle and giggle[0].prompt.startswith('"G I G G L E"')
    raw = path.read_text(encoding="utf-8").splitlines()[1:]
    assert [r.prompt for r in records] == [line.split("\t")[0].strip() for line in raw]
    assert len({r.prompt_id for r in records}) == 1632


@pytest.mark.shared_data
def test_real_drawbench_csv(shared_data: Path) -> None:
    records = read_prompts(shared_data / "drawbench" / "drawbench.csv", column="Prompt")
    assert len(records) == 200
    assert records[0].prompt == "A red colored car." and records[0].fields == {"Category": "Colors"}
    assert {r.dataset for r in records} == {"drawbench"}
    categories = {r.fields["Category"] for r in records}
    assert len(categories) == 11 and "Rare Words" in categories


def test_prompt_texts_keep_every_row_in_order(tmp_path: Path) -> None:
    text = tmp_path / "p.txt"
    text.write_text("a red cube\n\n  two cats  \na red cube\n", encoding="utf-8")
    assert prompt_texts(text) == ["a red cube", "two cats", "a red cube"]
    sniffed = tmp_path / "p.input"  # no known suffix: JSONL is recognised by its first line
    sniffed.write_text('{"prompt": "a red cube", "id": 1}\n{"prompt": "café à Paris"}\n', encoding="utf-8")
    assert prompt_texts(sniffed) == ["a red cube", "café à Paris"]


def test_prompt_texts_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"prompt": "one"}\n{"prompt": "two"}\n'))
    assert prompt_texts("-") == ["one", "two"]


def test_jsonl_without_a_prompt_field_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt", "id": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        prompt_texts(bad)
