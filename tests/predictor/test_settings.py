"""Training settings: configs/training.yaml and the code's defaults say the same thing."""

from __future__ import annotations

from dataclasses import fields

import pytest

from routet2i.errors import ConfigError
from routet2i.predictor.architecture import PredictorConfig
from routet2i.predictor.settings import ArchitectureSettings, TrainingSettings


def test_yaml_defaults_equal_the_code_defaults() -> None:
    # `routet2i train --config FILE` fills what FILE omits from the code's defaults, so they must
    # be the documented ones in configs/training.yaml
    assert TrainingSettings.load().model_dump() == TrainingSettings.model_validate({}).model_dump()


def test_unknown_cue_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="prompt_features"):
        TrainingSettings.load(None, architecture={"prompt_features": ["nouns", "unicorns"]})


def test_the_architecture_block_is_the_predictor_config_without_d_and_n() -> None:
    # each field is declared once (routet2i.predictor.architecture.Architecture)
    block = [f.name for f in fields(ArchitectureSettings)]
    assert [f.name for f in fields(PredictorConfig)] == [*block, "d_model", "n_metrics"]
    settings = TrainingSettings.model_validate({})
    config = settings.architecture.predictor_config(d_model=8, n_metrics=2)
    assert {k: v for k, v in config.to_dict().items() if k not in ("d_model", "n_metrics")} == (
        settings.architecture.model_dump()
    )
    assert PredictorConfig.from_dict(config.to_dict()) == config


def test_the_architecture_block_validates_like_a_settings_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_TRAIN_ARCHITECTURE__TOP_K", "4")
    monkeypatch.setenv("ROUTET2I_TRAIN_ARCHITECTURE__PROMPT_FEATURES", '["people"]')
    arch = TrainingSettings.load().architecture
    assert arch.top_k == 4 and arch.prompt_features == ("people",)
    monkeypatch.delenv("ROUTET2I_TRAIN_ARCHITECTURE__TOP_K")
    monkeypatch.delenv("ROUTET2I_TRAIN_ARCHITECTURE__PROMPT_FEATURES")
    with pytest.raises(ConfigError, match=r"architecture\.extra"):
        TrainingSettings.load(None, architecture={"extra": 1})
    with pytest.raises(ConfigError, match="top_k must be >= 1"):
        TrainingSettings.load(None, architecture={"top_k": 0})
    with pytest.raises(ConfigError, match=r"architecture\.dual_gate"):
        TrainingSettings.load(None, architecture={"dual_gate": "maybe"})
