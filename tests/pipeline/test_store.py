"""The run folder: atomic images, durable manifest lines, recovery after a crash, the lock."""

from __future__ import annotations

import io
import json
from pathlib import Path, PurePosixPath

import pytest

from routet2i.errors import ConfigError, DataError
from routet2i.pipeline.manifest import ManifestEntry, read_manifest
from routet2i.pipeline.store import RunStore, atomic_write_bytes


def png_bytes(color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def finish(store: RunStore, tier: str, prompt_id: str, seed: int, prompt: str = "a cat") -> None:
    """What a run does for one item: the image first, then its manifest line."""
    rel = PurePosixPath("images", tier, "ds", f"{prompt_id}-{seed}.png")
    path = store.write_image(rel, png_bytes())
    entry = ManifestEntry(path, prompt, f"model-{tier}", "ds", prompt_id, seed, extra={"timings": {"total_ms": 1.0}})
    store.append((tier, "ds", prompt_id, seed), entry)


def test_atomic_write_replaces_whole_and_leaves_no_tmp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["x.bin"]


def test_manifest_is_what_score_reads(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run") as store:
        finish(store, "edge", "p1", 0)
        finish(store, "cloud", "p1", 0)
    entries = read_manifest(tmp_path / "run" / "manifest.jsonl")
    assert [(e.model, e.seed, e.prompt_id, e.dataset) for e in entries] == [
        ("model-edge", 0, "p1", "ds"),
        ("model-cloud", 0, "p1", "ds"),
    ]
    assert entries[0].image == tmp_path / "run" / "images" / "edge" / "ds" / "p1-0.png"
    assert entries[0].image.is_file() and entries[0].extra["tier"] == "edge"
    first = json.loads((tmp_path / "run" / "manifest.jsonl").read_text().splitlines()[0])
    assert first["image"] == "images/edge/ds/p1-0.png"  # relative to the manifest's folder


def test_reopen_rebuilds_the_done_set(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        finish(store, "edge", "p1", 0)
        finish(store, "edge", "p1", 1)
    with RunStore(tmp_path) as again:
        assert again.done == {("edge", "ds", "p1", 0), ("edge", "ds", "p1", 1)}
        assert not any(again.repairs.values())


def test_recovery_after_a_kill(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        finish(store, "edge", "p1", 0)
        finish(store, "edge", "p2", 0)
        finish(store, "cloud", "p1", 0)
    manifest = tmp_path / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    # A repeated line, an image that went missing, a torn last line, and stray temporary files.
    (tmp_path / "images" / "edge" / "ds" / "p2-0.png").unlink()
    manifest.write_text("".join([*lines, lines[0], '{"image": "images/cloud/ds/p3']))
    stray = tmp_path / "images" / "cloud" / "ds" / ".p3-0.png.0123456789ab.tmp"
    stray.write_bytes(b"\x89PNG half")
    (tmp_path / ".manifest.jsonl.abcdef.tmp").write_text("partial")

    with RunStore(tmp_path) as store:
        assert store.done == {("edge", "ds", "p1", 0), ("cloud", "ds", "p1", 0)}
        assert store.repairs == {"torn_lines": 1, "missing_images": 1, "repeated_lines": 1, "tmp_files": 2}
        assert not stray.exists() and not (tmp_path / ".manifest.jsonl.abcdef.tmp").exists()
        finish(store, "edge", "p2", 0)  # made again
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    keys = [(r["tier"], r["prompt_id"], r["seed"]) for r in rows]
    assert sorted(keys) == sorted({("edge", "p1", 0), ("cloud", "p1", 0), ("edge", "p2", 0)})
    assert len(read_manifest(manifest)) == 3


def test_a_damaged_middle_line_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        finish(store, "edge", "p1", 0)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("not json\n" + manifest.read_text())
    with pytest.raises(DataError, match=r"manifest.jsonl:1: not JSON"):
        RunStore(tmp_path).open()


def test_a_foreign_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps({"image": "a.png", "prompt": "x", "model": "m", "seed": 0}) + "\n"
    )
    with pytest.raises(DataError, match="not written by generate-pairs"):
        RunStore(tmp_path).open()


def test_one_run_at_a_time(tmp_path: Path) -> None:
    with RunStore(tmp_path), pytest.raises(ConfigError, match="another generate-pairs run"):
        RunStore(tmp_path).open()
    with RunStore(tmp_path) as store:  # released on close
        assert store.done == set()


def test_errors_are_recorded(tmp_path: Path) -> None:
    from routet2i.workers.errors import WorkerOverloaded

    with RunStore(tmp_path) as store:
        store.record_error(("cloud", "ds", "p9", 3), attempt=2, error=WorkerOverloaded("queue full"), final=False)
    (row,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert row["tier"] == "cloud" and row["prompt_id"] == "p9" and row["seed"] == 3
    assert (row["attempt"], row["final"], row["error"], row["status"]) == (2, False, "WorkerOverloaded", 429)
    assert row["message"] == "queue full"
