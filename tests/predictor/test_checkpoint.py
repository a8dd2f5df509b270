"""Checkpoint folder: bit-exact round trip, everything from config.json, clear mismatch errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from routet2i.errors import CheckpointError
from routet2i.predictor.checkpoint import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from routet2i.predictor.model import KeyTokenPredictor
from tests.predictor.test_model import batch, config


def make(tmp_path: Path, **over: object) -> tuple[KeyTokenPredictor, CheckpointMeta, Path]:
    cfg = config(**over)
    torch.manual_seed(0)
    model = KeyTokenPredictor(cfg, metric_weights=[0.5, 0.25, 0.25]).eval()
    meta = CheckpointMeta(
        architecture=cfg,
        encoder="hf:/models/tiny#text_encoder",
        metrics=["alignment", "quality", "definition"],
        metric_weights=[0.5, 0.25, 0.25],
        gamma=2.0,
        mu_gaps={"ds/a:b": {"alignment": 0.3, "quality": float("nan"), "definition": 0.1}},
        training={"seed": 0, "data_id": "sha1:abc"},
        validation={"validation": {"spearman_prs": 0.4}},
    )
    path = save_checkpoint(tmp_path / "ck", model, meta)
    return model, meta, path


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model, meta, path = make(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_checkpoint(path)
    assert loaded.meta.architecture == meta.architecture
    assert loaded.meta.metrics == meta.metrics and loaded.meta.metric_weights == meta.metric_weights
    assert loaded.meta.mu_gaps["ds/a:b"]["quality"] is None  # NaN stored as null: strict JSON
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.model.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    states, mask = batch([6, 3])
    a, b = model(states, mask), loaded.model(states, mask)
    assert torch.equal(a.prs, b.prs)
    assert a.d_hat is not None and b.d_hat is not None and torch.equal(a.d_hat, b.d_hat)
    assert not loaded.model.training


def test_config_json_says_how_it_was_made(tmp_path: Path) -> None:
    _, _, path = make(tmp_path, top_k=5, straight_through=True)
    data = json.loads((path / "config.json").read_text())
    assert data["format"] == "routet2i-predictor"
    assert data["code_version"]
    assert data["architecture"]["top_k"] == 5 and data["architecture"]["d_model"] == 16
    assert data["encoder"] == "hf:/models/tiny#text_encoder"
    assert data["gamma"] == 2.0 and data["training"]["data_id"] == "sha1:abc"


def test_loading_takes_every_number_from_config_json(tmp_path: Path) -> None:
    _, _, path = make(tmp_path)
    data = json.loads((path / "config.json").read_text())
    del data["architecture"]["rank"]
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="missing fields \\['rank'\\]"):
        load_checkpoint(path)


def test_encoder_or_metric_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    _, _, path = make(tmp_path)
    load_checkpoint(path, encoder="hf:/models/tiny#text_encoder", metrics=["alignment", "quality", "definition"])
    with pytest.raises(CheckpointError, match="trained on encoder 'hf:/models/tiny#text_encoder', not 'minilm'"):
        load_checkpoint(path, encoder="minilm")
    with pytest.raises(CheckpointError, match="predicts metrics"):
        load_checkpoint(path, metrics=["alignment"])


def test_weights_that_do_not_fit_the_architecture(tmp_path: Path) -> None:
    _, _, path = make(tmp_path)
    data = json.loads((path / "config.json").read_text())
    data["architecture"]["hidden"] = 99
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_checkpoint(path)


def test_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        read_meta(tmp_path / "nope")
    _, _, path = make(tmp_path)
    (path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        load_checkpoint(path)
    (path / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        read_meta(path)
    (path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a routet2i predictor checkpoint"):
        read_meta(path)
