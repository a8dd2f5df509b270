"""The folder shadow store: pairs written whole (images, then their manifest lines) and read back
by the pipeline's manifest reader, as ``routet2i score`` reads a generate-pairs run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from routet2i.errors import DataError
from routet2i.pipeline.manifest import read_manifest
from routet2i.pipeline.shadow_store import DirectoryShadowStore
from routet2i.prompt_ids import default_prompt_id
from routet2i.routing.shadow import ShadowImage, ShadowPair
from tests.gateway.doubles import tiny_png


def pair(
    pair_id: str, prompt: str = "a red fox", *, seed: int | None = 5, shadow_png: bytes | None = None
) -> ShadowPair:
    live = ShadowImage("edge", "sd-turbo", tiny_png(), seed, {"width": 64, "height": 64, "steps": 1}, served=True)
    shadow = ShadowImage(
        "cloud", "sdxl", shadow_png or tiny_png((0, 0, 255)), seed, {"width": 128, "height": 128}, served=False
    )
    return ShadowPair(
        pair_id=pair_id,
        prompt=prompt,
        request={"steps": None, "seed": seed},
        live=live,
        shadow=shadow,
        prs=0.42,
        metrics={"definition": 0.4},
        threshold=0.45,
        reason="predicted",
        router={"checkpoint": "ckpt/v3", "data_id": "abc123"},
        cost=0.02,
        created=1.7e9,
    )


def test_a_pair_reads_back_through_the_manifest_reader(tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    assert not (tmp_path / "shadow").exists()  # nothing on disk before the first pair
    store.write(pair("a" * 32))
    store.write(pair("b" * 32, "a blue bird", seed=9))
    entries = read_manifest(store.manifest_path)
    assert [(e.prompt, e.model, e.seed, e.extra["tier"], e.extra["role"]) for e in entries] == [
        ("a red fox", "sd-turbo", 5, "edge", "served"),
        ("a red fox", "sdxl", 5, "cloud", "shadow"),
        ("a blue bird", "sd-turbo", 9, "edge", "served"),
        ("a blue bird", "sdxl", 9, "cloud", "shadow"),
    ]
    fox_edge, fox_cloud = entries[:2]
    assert fox_edge.image.read_bytes() == tiny_png() and fox_cloud.image.read_bytes() == tiny_png((0, 0, 255))
    assert fox_edge.image.parent.name == "edge" and fox_edge.image.is_relative_to(tmp_path / "shadow")
    assert fox_edge.dataset == "shadow" and fox_edge.prompt_id == fox_cloud.prompt_id == default_prompt_id("a red fox")
    extra = fox_cloud.extra
    assert (extra["pair_id"], extra["prs"], extra["threshold"], extra["checkpoint"], extra["router_data_id"]) == (
        "a" * 32,
        0.42,
        0.45,
        "ckpt/v3",
        "abc123",
    )
    assert extra["cost"] == 0.02 and fox_edge.extra["cost"] == 0.0 and extra["parameters"]["width"] == 128
    assert extra["created"].startswith("2023-11-14T")
    # nothing temporary is left behind; the manifest names relative paths
    assert not [p for p in (tmp_path / "shadow").rglob("*.tmp")]
    assert '"image": "images/edge/' in store.manifest_path.read_text(encoding="utf-8")


def test_a_pair_without_seeds_pairs_its_images_under_one_label(tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path)
    store.write(pair("0000002a" + "0" * 24, seed=None))
    entries = read_manifest(store.manifest_path)
    assert [e.seed for e in entries] == [42, 42] and [e.extra["worker_seed"] for e in entries] == [None, None]


def test_a_broken_image_writes_nothing(tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path)
    with pytest.raises(DataError, match="not a PNG"):
        store.write(pair("c" * 32, shadow_png=b"<html>oops</html>"))
    assert not store.manifest_path.exists() and not (tmp_path / "images").exists()


def test_a_torn_last_line_is_cut_when_the_store_opens(tmp_path: Path) -> None:
    DirectoryShadowStore(tmp_path).write(pair("d" * 32))
    with (tmp_path / "manifest.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"image": "images/edge/eee.png", "prompt": "a ha')  # a writer killed mid-line
    with pytest.raises(DataError):
        read_manifest(tmp_path / "manifest.jsonl")
    DirectoryShadowStore(tmp_path).write(pair("e" * 32, "a green frog"))
    entries = read_manifest(tmp_path / "manifest.jsonl")
    assert [e.prompt for e in entries] == ["a red fox", "a red fox", "a green frog", "a green frog"]


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    stores = [DirectoryShadowStore(tmp_path), DirectoryShadowStore(tmp_path)]  # e.g. two gateway replicas

    def work(k: int) -> None:
        for i in range(10):
            stores[k % 2].write(pair(f"{k:04x}{i:04x}" + "0" * 24, f"prompt {k} {i}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = read_manifest(tmp_path / "manifest.jsonl")
    assert len(entries) == 80
    by_pair: dict[str, list[str]] = {}
    for e in entries:
        by_pair.setdefault(e.extra["pair_id"], []).append(e.extra["role"])
        assert e.image.is_file()
    assert len(by_pair) == 40 and all(roles == ["served", "shadow"] for roles in by_pair.values())
