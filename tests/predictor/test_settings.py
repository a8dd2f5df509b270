"""Training settings: configs/training.yaml and the code's defaults say the same thing."""

from __future__ import annotations

import pytest

from routet2i.errors import ConfigError
from routet2i.predictor.settings import TrainingSettings


def test_yaml_defaults_equal_the_code_defaults() -> None:
    # `routet2i train --config FILE` fills what FILE omits from the code's defaults, so they must
    # be the documented ones in configs/training.yaml
    assert TrainingSettings.load().model_dump() == TrainingSettings.model_validate({}).model_dump()


def test_unknown_cue_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="prompt_features"):
        TrainingSettings.load(None, architecture={"prompt_features": ["nouns", "unicorns"]})
