"""The metric set: which quality metrics the CLIP scorer computes, with their texts and weights.

A metric is a pair of texts (positive, negative) describing one quality; an image scores
``q = sigmoid(s * (cos(img, positive) - cos(img, negative)))`` in (0, 1) on it (see
:mod:`routet2i.quality.formula`). The optional ``alignment`` metric is the cosine similarity of the
image with its own prompt. Weights (>= 0, not all 0) are the PRS weights w_i; only their ratios
matter (:meth:`MetricSet.normalised_weights` makes them sum to 1).

The default set lives in ``configs/metrics.yaml``; load any other file with
:func:`load_metric_set`. Pure pydantic: importing this module loads nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from routet2i.config import CONFIG_DIR, StrictModel, read_yaml, validate_or_explain

#: The default metric-set file.
DEFAULT_METRICS_FILE = CONFIG_DIR / "metrics.yaml"

#: The name of the prompt-alignment metric (reserved: no contrastive metric may use it).
ALIGNMENT = "alignment"

#: The ``provenance`` of a pair printed in the RouteT2I paper; anything else must start with
#: :data:`NOT_FROM_PAPER`.
PAPER = "paper"
NOT_FROM_PAPER = "not from the paper"

_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"


class MetricSpec(StrictModel):
    """One contrastive metric: a positive and a negative description of one quality."""

    name: str = Field(pattern=_NAME_PATTERN, description="metric name as written to the ratings table")
    positive: str = Field(min_length=1, description="text describing a good image, e.g. 'Sharp photo'")
    negative: str = Field(min_length=1, description="text describing a bad image, e.g. 'Blurry photo'")
    weight: float = Field(default=1.0, ge=0.0, allow_inf_nan=False, description="PRS weight (>= 0)")
    provenance: str = Field(
        default=f"{NOT_FROM_PAPER}: user-defined",
        description="'paper' for a pair printed in the RouteT2I paper, else 'not from the paper: <source>'",
    )

    @field_validator("positive", "negative")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("provenance")
    @classmethod
    def _provenance_form(cls, v: str) -> str:
        if v != PAPER and not v.startswith(NOT_FROM_PAPER):
            raise ValueError(f"must be {PAPER!r} or start with {NOT_FROM_PAPER!r}")
        return v

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v.lower() == ALIGNMENT:
            raise ValueError(f"{ALIGNMENT!r} is reserved for the prompt-alignment metric (the 'alignment' block)")
        return v

    @model_validator(mode="after")
    def _texts_differ(self) -> MetricSpec:
        if self.positive.strip().lower() == self.negative.strip().lower():
            raise ValueError(f"metric {self.name!r}: positive and negative texts are the same (q would be 0.5)")
        return self


class AlignmentSpec(StrictModel):
    """The optional prompt-alignment metric ``alignment`` (CLIP image-prompt cosine similarity).

    ``convention``: ``cosine`` writes cos in [-1, 1] (about 0.15-0.40 for real image-prompt pairs
    with OpenAI CLIP); ``clipscore`` writes ``2.5 * max(cos, 0)`` in [0, 2.5] (Hessel et al.).
    """

    enabled: bool = False
    convention: Literal["cosine", "clipscore"] = "cosine"
    weight: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)


class MetricSet(StrictModel):
    """A named list of contrastive metrics plus the optional alignment metric."""

    name: str = Field(min_length=1)
    # Declared before ``metrics`` so that the metrics validator can see it (all-zero check).
    alignment: AlignmentSpec = Field(default_factory=AlignmentSpec)
    metrics: list[MetricSpec]

    @field_validator("metrics")
    @classmethod
    def _unique_and_weighted(cls, metrics: list[MetricSpec], info: ValidationInfo) -> list[MetricSpec]:
        seen: dict[str, int] = {}
        for i, m in enumerate(metrics):
            key = m.name.lower()
            if key in seen:
                raise ValueError(
                    f"duplicate metric name {m.name!r} (metrics.{seen[key]}.name and metrics.{i}.name; "
                    "names are compared case-insensitively)"
                )
            seen[key] = i
        alignment = info.data.get("alignment")
        aligned = isinstance(alignment, AlignmentSpec) and alignment.enabled
        alignment_weight = alignment.weight if isinstance(alignment, AlignmentSpec) and aligned else 0.0
        if not metrics and not aligned:
            raise ValueError("no metric to score: list at least one metric or enable the alignment block")
        if sum(m.weight for m in metrics) + alignment_weight <= 0.0:
            raise ValueError(
                "every weight is 0 (metrics.*.weight, and alignment.weight where alignment is enabled): "
                "at least one scored metric needs a weight > 0"
            )
        return metrics

    @property
    def names(self) -> list[str]:
        """The scored metrics in output order: the contrastive ones, then ``alignment`` if enabled."""
        return [m.name for m in self.metrics] + ([ALIGNMENT] if self.alignment.enabled else [])

    @property
    def texts(self) -> list[str]:
        """Every distinct metric text (positives and negatives), in first-use order."""
        return list(dict.fromkeys(t for m in self.metrics for t in (m.positive, m.negative)))

    def normalised_weights(self) -> dict[str, float]:
        """Metric name → weight / sum of weights, over :attr:`names` (sums to 1)."""
        raw = {m.name: m.weight for m in self.metrics}
        if self.alignment.enabled:
            raw[ALIGNMENT] = self.alignment.weight
        total = sum(raw.values())
        return {name: w / total for name, w in raw.items()}

    def with_alignment(self, enabled: bool = True) -> MetricSet:
        """A copy with the alignment metric switched on (or off), validated again."""
        data = self.model_dump()
        data["alignment"]["enabled"] = enabled
        return validate_or_explain(MetricSet, data, f"metric set {self.name!r} with alignment={enabled}")


def load_metric_set(path: str | Path | None = None) -> MetricSet:
    """Read and validate a metric-set YAML file (default ``configs/metrics.yaml``).

    Raises :class:`~routet2i.errors.ConfigError` naming the file and every bad field.
    """
    p = Path(path) if path is not None else DEFAULT_METRICS_FILE
    return validate_or_explain(MetricSet, read_yaml(p), str(p))
