"""Training settings: ``configs/training.yaml`` (+ ``ROUTET2I_TRAIN_`` environment overrides).

Blocks: ``encoder`` (spec string), ``architecture`` (sizes and ablation switches except d and N,
which come from the encoder and the data: :class:`ArchitectureSettings`, whose fields are those of
:class:`~routet2i.predictor.architecture.Architecture`, declared there once),
``optimisation``, ``targets`` (how D/PRS targets are made), ``split`` (the prompt-hash split) and
``calibration`` (budgets calibrated right after training on the calibration split).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_settings import SettingsConfigDict

from routet2i.config import StrictModel, YamlSettings, service_env_prefix
from routet2i.encoders.spec import DEFAULT_ENCODER
from routet2i.errors import CheckpointError
from routet2i.predictor.architecture import DEFAULT_CUES, Architecture

__all__ = [
    "DEFAULT_CUES",
    "ArchitectureSettings",
    "CalibrationSettings",
    "OptimisationSettings",
    "SplitSettings",
    "TargetSettings",
    "TrainingSettings",
]


@pydantic_dataclass(frozen=True, kw_only=True, config=ConfigDict(extra="forbid"))
class ArchitectureSettings(Architecture):
    """The ``architecture`` block: the fields, defaults and checks of
    :class:`~routet2i.predictor.architecture.Architecture` (declared there, not here), validated
    like any settings block (types, unknown keys, ``ROUTET2I_TRAIN_ARCHITECTURE__*``), a bad value named
    in a validation error. ``predictor_config(d_model=…, n_metrics=…)`` adds d and N."""

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except CheckpointError as exc:  # a settings error, not a checkpoint's
            raise ValueError(str(exc)) from None


class OptimisationSettings(StrictModel):
    """Adam, mini-batches, early stopping on the validation loss."""

    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    #: learning-rate multiplier for the prompt-feature cue weights (architecture.prompt_features).
    feature_lr_scale: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=16, ge=1)
    epochs: int = Field(default=40, ge=1)
    #: stop after this many epochs without a better validation loss (0: never stop early).
    patience: int = Field(default=8, ge=0)
    #: which epoch to keep: lowest validation loss, highest validation Spearman of PRŜ, or last.
    select: Literal["loss", "spearman", "last"] = "loss"
    seed: int = 0


class TargetSettings(StrictModel):
    """How D / PRS targets are made from the ratings (see :mod:`routet2i.superiority`)."""

    gamma: float = Field(default=1.0, gt=0)
    normalise: Literal["none", "zscore", "minmax"] = "zscore"
    #: metric name → weight in PRS (missing metrics weigh 0; empty: uniform).
    weights: dict[str, float] = Field(default_factory=dict)


class SplitSettings(StrictModel):
    """Shares of prompts for validation and calibration; the rest trains. By sha1 of the prompt."""

    validation: float = Field(default=0.15, gt=0, lt=1)
    calibration: float = Field(default=0.15, ge=0, lt=1)

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitSettings:
        if self.validation + self.calibration >= 0.9:
            raise ValueError("validation + calibration must leave at least 10 % of prompts for training")
        return self


class CalibrationSettings(StrictModel):
    """Budgets whose thresholds ``train`` stores (from the calibration split)."""

    budgets: list[float] = Field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])


class TrainingSettings(YamlSettings):
    """``routet2i train`` settings (``configs/training.yaml``)."""

    model_config = SettingsConfigDict(env_prefix=service_env_prefix("train"))

    default_file: ClassVar[str | None] = "training.yaml"

    encoder: str = DEFAULT_ENCODER
    architecture: ArchitectureSettings = Field(default_factory=ArchitectureSettings)
    optimisation: OptimisationSettings = Field(default_factory=OptimisationSettings)
    targets: TargetSettings = Field(default_factory=TargetSettings)
    split: SplitSettings = Field(default_factory=SplitSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    #: prompts per encoder call while caching token states.
    encode_batch_size: int = Field(default=64, ge=1)
    #: folder for on-disk token-state caches (keyed by encoder + prompts hash); null: memory only.
    cache_dir: str | None = None
    #: torch device for encoding and training.
    device: str = "cpu"
