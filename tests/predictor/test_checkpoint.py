"""Checkpoint folder: bit-exact round trip, everything from config.json, clear mismatch errors (encoder,
metrics, cue lexicon)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from routet2i.errors import CheckpointError
from routet2i.predictor.checkpoint import (
    CheckpointMeta,
    default_checkpoint_dir,
    load_checkpoint,
    read_meta,
    save_checkpoint,
    write_meta,
)
from routet2i.predictor.cues import lexicon_sha256
from routet2i.predictor.inference import CheckpointPredictor
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


CUES = ("nouns", "people")


def test_a_checkpoint_with_prompt_features_records_the_cue_lexicon(tmp_path: Path) -> None:
    _, _, path = make(tmp_path / "cues", prompt_features=CUES)
    data = json.loads((path / "config.json").read_text())
    assert data["cue_lexicon_sha256"] == lexicon_sha256()
    assert load_checkpoint(path).meta.cue_lexicon_sha256 == lexicon_sha256()
    _, _, plain = make(tmp_path / "plain")  # no prompt features: no lexicon to record
    assert "cue_lexicon_sha256" not in json.loads((plain / "config.json").read_text())
    assert read_meta(plain).cue_lexicon_sha256 is None


def test_an_edited_lexicon_makes_loading_refuse(edited_lexicon: str, tmp_path: Path) -> None:
    packaged = default_checkpoint_dir()
    recorded = read_meta(packaged).cue_lexicon_sha256  # reading the metadata alone still works
    assert recorded is not None and recorded != edited_lexicon
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(packaged)
    message = str(info.value)
    assert f"expects lexicon sha256 {recorded}" in message  # what the checkpoint was trained with
    assert f"is {edited_lexicon}" in message  # what is installed
    assert "Retrain it" in message and "reinstall the routet2i version" in message  # what to do
    with pytest.raises(CheckpointError, match="another cue lexicon"):
        CheckpointPredictor(None)  # the router the gateway and `routet2i route` load
    # a checkpoint made under the installed lexicon, or one without prompt features, loads
    _, _, fresh = make(tmp_path / "fresh", prompt_features=CUES)
    assert load_checkpoint(fresh).meta.cue_lexicon_sha256 == edited_lexicon
    _, _, plain = make(tmp_path / "plain")
    load_checkpoint(plain)


def test_an_older_checkpoint_without_a_recorded_lexicon_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, path = make(tmp_path, prompt_features=CUES)
    data = json.loads((path / "config.json").read_text())
    del data["cue_lexicon_sha256"]
    (path / "config.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="routet2i.predictor.checkpoint"):
        loaded = load_checkpoint(path)
    assert loaded.meta.cue_lexicon_sha256 is None
    assert "records no cue lexicon" in caplog.text and lexicon_sha256() in caplog.text
    write_meta(path, loaded.meta)  # rewriting it (e.g. `routet2i calibrate`) does not certify a lexicon
    assert "cue_lexicon_sha256" not in json.loads((path / "config.json").read_text())


def test_a_malformed_lexicon_hash_is_a_clear_error(tmp_path: Path) -> None:
    _, _, path = make(tmp_path, prompt_features=CUES)
    data = json.loads((path / "config.json").read_text())
    data["cue_lexicon_sha256"] = "abc"
    (path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="cue_lexicon_sha256 must be a sha256"):
        read_meta(path)


def test_the_packaged_router_config_round_trips_byte_for_byte(tmp_path: Path) -> None:
    packaged = default_checkpoint_dir()
    write_meta(tmp_path, read_meta(packaged))
    assert (tmp_path / "config.json").read_bytes() == (packaged / "config.json").read_bytes()
