"""The learner service over a real shadow store (routet2i/learning/service.py, command_learn.py):
pairs written by the gateway's DirectoryShadowStore, the tiny router loaded through the product."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from routet2i.cli import main
from routet2i.learning.learner import LearnerPolicy
from routet2i.learning.pair_log import PairLog
from routet2i.learning.service import LearnService, shadow_pairs
from routet2i.learning.versions import RouterVersions
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.pipeline.shadow_store import DirectoryShadowStore
from routet2i.predictor.checkpoint import read_meta
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.routing.shadow import ShadowImage, ShadowPair
from routet2i.routing.tiers import Tiers
from tests.quality.conftest import TinyClip
from tests.quality.test_command import open_clip_args

SUBJECTS = ["cat", "dog", "house", "tree", "car", "boat", "bird", "horse", "lamp", "chair", "clock", "river"]
STYLES = ["photo", "sketch", "painting", "render", "poster", "drawing"]


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _prompts(n: int) -> list[str]:
    out = [
        f"a {style} of a {'glass ' if i % 3 == 0 else ''}{subject}"
        for i, (subject, style) in enumerate((s, t) for s in SUBJECTS for t in STYLES)
    ]
    return out[:n]


def _write_pairs(store: DirectoryShadowStore, prompts: list[str], start: int = 0) -> None:
    for i, prompt in enumerate(prompts, start):
        params = {"width": 8, "height": 8}
        served = ShadowImage("edge", "tiny-sd", _png(2 * i), i, params, True)
        shadow = ShadowImage("cloud", "tiny-sdxl", _png(2 * i + 1), i, params, False)
        store.write(
            ShadowPair(
                f"{i:032x}", prompt, {}, served, shadow, 0.6, {}, 0.4, "predicted", {"checkpoint": "tiny"}, 0.01, 0.0
            )
        )


def keyword_scorer(entries: list[ManifestEntry]) -> tuple[dict[Path, dict[str, float]], list[tuple[Path, str]]]:
    """A unit-test scorer: the cloud image is much better exactly on the "glass" prompts."""
    scores: dict[Path, dict[str, float]] = {}
    failed: list[tuple[Path, str]] = []
    for e in entries:
        if not e.image.is_file():
            failed.append((e.image, "image not found"))
            continue
        cloud = e.extra.get("tier") == "cloud"
        bonus = 1.0 if cloud and "glass" in e.prompt else (-0.2 if cloud else 0.0)
        scores[e.image] = {"alignment": 0.5 + bonus + 0.01 * (hash(e.prompt) % 7)}
    return scores, failed


def _service(tmp_path: Path, base: Path, reloads: list[Path] | None = None, **policy: Any) -> LearnService:
    return LearnService(
        store=tmp_path / "shadow",
        versions=RouterVersions(tmp_path / "versions"),
        base=base,
        scorer=keyword_scorer,
        policy=LearnerPolicy(**{"retrain_every": 30, **policy}),
        reload=None if reloads is None else reloads.append,
    )


def test_the_loop_scores_retrains_promotes_and_reloads(tiny_router_dir: Path, tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(72))
    assert len(shadow_pairs(tmp_path / "shadow", Tiers())) == 72
    reloads: list[Path] = []
    service = _service(tmp_path, tiny_router_dir, reloads, retrain_every=60)
    report = service.cycle()
    assert report.new_pairs == 72 and report.pairs_total == 72 and report.retrain is not None
    assert report.promoted == "v0001" and reloads == [tmp_path / "versions" / "v0001"]
    versions = RouterVersions(tmp_path / "versions")
    assert versions.live() == "v0001"
    meta = read_meta(versions.path("v0001"))
    learning = meta.training["learning"]
    assert learning["pairs"] == 72 and learning["parent"] == str(tiny_router_dir) and learning["validation"]["promote"]
    assert meta.calibration is not None and meta.correction is not None
    # the promoted router sends the glass prompts to the cloud first
    live = CheckpointPredictor(versions.path("v0001"))
    prs, _ = live.scores(_prompts(72))
    glass = np.array(["glass" in p for p in _prompts(72)])
    assert prs[glass].mean() < prs[~glass].mean()
    # a second cycle with nothing new does nothing
    again = service.cycle()
    assert again.new_pairs == 0 and again.retrain is None and again.pairs_total == 72


def test_a_failed_reload_is_reported_and_tried_again(tiny_router_dir: Path, tmp_path: Path) -> None:
    """The gateway is down when a version goes live: the cycle says so and the loop goes on; the
    next cycle reloads it (once)."""
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(72))
    calls: list[Path] = []

    def reload(path: Path) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise ConnectionError("the gateway is not answering")

    service = LearnService(
        store=tmp_path / "shadow",
        versions=RouterVersions(tmp_path / "versions"),
        base=tiny_router_dir,
        scorer=keyword_scorer,
        policy=LearnerPolicy(retrain_every=60),
        reload=reload,
    )
    first = service.cycle()
    assert first.promoted == "v0001" and first.reload_error is not None and "not answering" in first.reload_error
    second = service.cycle()
    assert second.reload_error is None and calls == [tmp_path / "versions" / "v0001"] * 2
    assert service.cycle().reload_error is None and len(calls) == 2  # reloaded: not again


def test_a_restart_loses_and_duplicates_nothing(tiny_router_dir: Path, tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(20))
    assert _service(tmp_path, tiny_router_dir).cycle().new_pairs == 20
    _write_pairs(store, _prompts(45)[20:], start=20)
    # a new service (the process was killed and restarted) takes in only the new pairs
    report = _service(tmp_path, tiny_router_dir).cycle()
    assert report.new_pairs == 25 and report.pairs_total == 45
    ids = [p.pair_id for p in PairLog(tmp_path / "versions" / "learner").pairs()]
    assert len(ids) == len(set(ids)) == 45
    # a torn last line (killed mid-append) is dropped and its pair taken in again
    pairs_file = tmp_path / "versions" / "learner" / "pairs.jsonl"
    text = pairs_file.read_text()
    pairs_file.write_text(text[: text.rstrip("\n").rfind("\n") + 1] + '{"pair_id": "torn')
    report = _service(tmp_path, tiny_router_dir).cycle()
    assert report.new_pairs == 1 and report.pairs_total == 45


def test_a_deleted_image_skips_its_pair_with_the_reason(tiny_router_dir: Path, tmp_path: Path) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(10))
    [victim] = [p for p in shadow_pairs(tmp_path / "shadow", Tiers()) if p[0] == f"{3:032x}"]
    victim[2].image.unlink()
    report = _service(tmp_path, tiny_router_dir).cycle()
    assert report.new_pairs == 9 and report.skipped == [(f"{3:032x}", "image not found")]
    [skipped] = PairLog(tmp_path / "versions" / "learner").skipped()
    assert skipped["reason"] == "image not found" and skipped["image"] == str(victim[2].image)
    assert _service(tmp_path, tiny_router_dir).cycle().skipped == []  # not retried, not counted


def test_noise_is_not_promoted(tiny_router_dir: Path, tmp_path: Path) -> None:
    def noise(entries: list[ManifestEntry]) -> tuple[dict[Path, dict[str, float]], list[tuple[Path, str]]]:
        rng = np.random.default_rng(len(entries))
        return {
            e.image: {"alignment": float(rng.normal()) + (0.3 if e.extra.get("tier") == "cloud" else 0)}
            for e in entries
        }, []

    _write_pairs(DirectoryShadowStore(tmp_path / "shadow"), _prompts(72))
    service = _service(tmp_path, tiny_router_dir, retrain_every=60)
    service.scorer = noise
    report = service.cycle()
    assert report.retrain is not None and not report.retrain.decision.promote and report.promoted is None
    assert RouterVersions(tmp_path / "versions").versions() == []


def test_learn_status_and_rollback_from_the_command_line(
    tiny_router_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(72))
    _service(tmp_path, tiny_router_dir, retrain_every=60).cycle()
    versions = tmp_path / "versions"
    assert main(["learn", "status", "--versions", str(versions)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["live"] == "v0001" and status["pairs_seen"] == 72 and status["last_decision"]["promote"]
    assert main(["learn", "rollback", "--versions", str(versions)]) == 2  # nothing older was live
    assert "no version older than v0001" in capsys.readouterr().err


def test_learn_run_once_scores_with_the_clip_scorer(
    tiny_router_dir: Path, tiny_clip: TinyClip, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DirectoryShadowStore(tmp_path / "shadow")
    _write_pairs(store, _prompts(6))
    next(p for p in shadow_pairs(tmp_path / "shadow", Tiers()) if p[0] == f"{2:032x}")[1].image.unlink()
    args = ["learn", "run", "--once", "--store", str(tmp_path / "shadow"), "--versions", str(tmp_path / "v")]
    args += ["--base", str(tiny_router_dir), "--retrain-every", "1000", *open_clip_args(tiny_clip)]
    assert main(args) == 0
    assert "5 new pairs (1 skipped), 5 in all" in capsys.readouterr().err
    [pair, *_] = PairLog(tmp_path / "v" / "learner").pairs()
    assert set(pair.cheap) == set(pair.expensive) and len(pair.cheap) >= 1  # every metric of configs/metrics.yaml
    assert all(0.0 < v < 1.0 for v in pair.cheap.values())
