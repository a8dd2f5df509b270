"""A promoted correction is served as it was measured: written as a versioned checkpoint, loaded
through the product's own checkpoint code (routet2i/learning/versions.py, predictor/correction.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from routet2i.errors import CheckpointError, ConfigError
from routet2i.evaluation.embeddings import embed
from routet2i.learning.correction import fit
from routet2i.learning.versions import RouterVersions
from routet2i.predictor.checkpoint import read_meta, write_meta
from routet2i.predictor.correction import Correction, prior_scores
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.testing.tiny_router import REFERENCE_PROMPTS


def _correction(base: CheckpointPredictor, kind: str = "correction") -> tuple[Correction, np.ndarray, np.ndarray]:
    prompts = REFERENCE_PROMPTS * 3
    prs, _ = base.scores(prompts)
    x = embed(prompts, base.encoder)
    gain = x[:, 0] * 10.0 + np.random.default_rng(0).normal(0, 0.01, len(prompts))
    return fit(kind, prior_scores(prs), x, gain), prs, x  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["correction", "scratch", "blend"])
def test_a_version_serves_the_corrected_prs(tiny_router_dir: Path, tmp_path: Path, kind: str) -> None:
    base = CheckpointPredictor(tiny_router_dir)
    correction, prs, x = _correction(base, kind)
    versions = RouterVersions(tmp_path / "versions")
    v = versions.add(tiny_router_dir, correction, calibration=None, lineage={"pairs": 48, "shadow_data_id": "sha1:x"})
    assert v == "v0001" and versions.versions() == ["v0001"] and versions.live() is None
    served = CheckpointPredictor(versions.path(v), encoder=base.encoder)
    new_prs, d_hat = served.scores(REFERENCE_PROMPTS)
    expected = correction.corrected_prs(prs[: len(REFERENCE_PROMPTS)], x[: len(REFERENCE_PROMPTS)])
    np.testing.assert_allclose(new_prs, expected, rtol=1e-6, atol=1e-9)
    assert not np.allclose(new_prs, prs[: len(REFERENCE_PROMPTS)])  # the correction changed the ranking input
    np.testing.assert_allclose(d_hat, base.scores(REFERENCE_PROMPTS)[1])  # the D̂ per metric stay the predictor's
    meta = read_meta(versions.path(v))
    assert meta.training["learning"] == {
        "version": "v0001",
        "parent": str(tiny_router_dir),
        "pairs": 48,
        "shadow_data_id": "sha1:x",
    }
    assert json.loads((versions.path(v) / "config.json").read_text())["format_version"] == 2


def test_a_correction_for_another_encoder_is_refused(tiny_router_dir: Path, tmp_path: Path) -> None:
    base = CheckpointPredictor(tiny_router_dir)
    correction, _, _ = _correction(base)
    versions = RouterVersions(tmp_path / "versions")
    path = versions.path(versions.add(tiny_router_dir, correction, calibration=None, lineage={}))
    meta = read_meta(path)
    assert meta.correction is not None and meta.correction["ridge"] is not None
    meta.correction["ridge"]["coef"] = meta.correction["ridge"]["coef"][:-1]
    write_meta(path, meta)
    with pytest.raises(CheckpointError, match="the ridge is for width"):
        CheckpointPredictor(path, encoder=base.encoder)


def test_history_live_and_rollback(tiny_router_dir: Path, tmp_path: Path) -> None:
    correction, _, _ = _correction(CheckpointPredictor(tiny_router_dir))
    versions = RouterVersions(tmp_path / "versions")
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / ".v0001.tmp").mkdir()  # a crash mid-write: ignored, then replaced
    names = [versions.add(tiny_router_dir, correction, calibration=None, lineage={"pairs": n}) for n in (10, 20, 30)]
    assert names == ["v0001", "v0002", "v0003"] and not (tmp_path / "versions" / ".v0001.tmp").exists()
    with pytest.raises(ConfigError, match="no live version"):
        versions.rollback()
    versions.set_live("v0001", advantage=0.05)
    versions.set_live("v0003", advantage=0.02)
    assert versions.rollback() == "v0001" and versions.live() == "v0001"
    with pytest.raises(ConfigError, match="no version older than v0001"):
        versions.rollback()
    assert versions.rollback("v0002") == "v0002"
    events = [(e["event"], e["version"]) for e in versions.history()]
    assert events == [
        ("added", "v0001"),
        ("added", "v0002"),
        ("added", "v0003"),
        ("promoted", "v0001"),
        ("promoted", "v0003"),
        ("rolled_back", "v0001"),
        ("rolled_back", "v0002"),
    ]
    with pytest.raises(ConfigError, match="no router version 'v0009'"):
        versions.set_live("v0009")
    assert versions.versions() == names  # nothing was overwritten
