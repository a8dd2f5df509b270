"""The predictor's architecture numbers and switches, each field declared once, here.

:class:`Architecture` holds every field a training config sets (the ``architecture:`` block of
``configs/training.yaml``, which documents the same defaults): its type, its default and its
meaning are written down here and nowhere else. The training settings validate that block into
:class:`~routet2i.predictor.settings.ArchitectureSettings`, a pydantic dataclass that subclasses
:class:`Architecture` without declaring a field. :class:`PredictorConfig` adds d and N, which come
from the encoder and the data.

A checkpoint's ``config.json`` holds every field of :class:`PredictorConfig`, and loading reads them
all from there (:meth:`PredictorConfig.from_dict` rejects a missing or unknown field: no default is
filled in), so a checkpoint always says how it was built, whatever the defaults are today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

from routet2i.errors import CheckpointError

AffinitySoftmax = Literal["tokens", "experts"]
FeatureSign = Literal["monotone", "free"]

#: the compositional cues of the default feature path (``words``, ``negation`` and ``comparison``
#: are left out: length is not complexity, and negated prompts defeat large models as well).
DEFAULT_CUES: tuple[str, ...] = ("nouns", "counts", "conjuncts", "spatial", "attributes", "text", "people")


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Sizes and switches of :class:`~routet2i.predictor.model.KeyTokenPredictor` but d and N.

    ``affinity_softmax``: the axis of A = softmax(T Eᵀ / sqrt(d)). ``tokens`` (default): for each
    expert a distribution over the prompt's real tokens, the expert-choice view in which an expert
    ranks tokens; it is defined for a single metric (N = 1, where a softmax over experts is
    constant 1 and cannot rank tokens) and never gives weight to padding. ``experts``: for each
    token a distribution over experts (the classic MoE gate); tokens are then ranked per expert
    by that probability. Either way the selected tokens are pooled with their affinities
    renormalised to sum to 1 over the selection.

    An invalid value is a :class:`~routet2i.errors.CheckpointError` (the settings block reports it
    as a validation error instead, hence a :class:`~routet2i.errors.ConfigError`).
    """

    #: K, tokens kept per expert (expert-choice top-K; fewer if the prompt is shorter).
    top_k: int = 8
    #: scale of the Gumbel noise added to log-affinities before the top-K while training (0: none;
    #: 1: sample the K tokens from A). Inference never adds noise.
    selection_noise: float = 1.0
    #: training only: gradients as if all real tokens were pooled by affinity (straight-through
    #: estimator of the top-K); the forward value stays the top-K pooling.
    straight_through: bool = True
    #: l, the rank of the gate projections P⁺, P⁻ (d × l).
    rank: int = 32
    #: h, the width of the shared S (l × h) and of each expert's pooled vector.
    hidden: int = 64
    #: hidden width of each metric head's MLP (0: a linear head).
    head_hidden: int = 32
    #: dropout on the pooled vectors during training, in [0, 1).
    dropout: float = 0.1
    #: the axis of the affinity softmax (see the class docstring).
    affinity_softmax: AffinitySoftmax = "tokens"
    #: layer-normalise token states (no learned scale) before the experts see them.
    normalise_tokens: bool = True
    #: ablation switch: False → every real token is pooled (no top-K).
    token_selection: bool = True
    #: ablation switch: False → a single low-rank projection T P S, no sigmoid(T⁺ − T⁻) contrast.
    dual_gate: bool = True
    #: ablation switch: False → one head predicts PRS directly from all experts' pooled vectors
    #: (no per-metric D̂).
    per_metric_heads: bool = True
    #: prompt-feature cues (distinct names from :data:`routet2i.predictor.cues.FEATURE_NAMES`)
    #: added, as log(1 + count), linearly to each head's logit; empty: none (the paper's
    #: predictor). Any sequence of names is kept as a tuple.
    prompt_features: Sequence[str] = DEFAULT_CUES
    #: ``monotone``: every cue can only lower D̂ (more complexity → the cloud gains more; the
    #: weights are −softplus(v)), so a cue learned on one dataset cannot flip sign on another;
    #: ``free``: unconstrained weights.
    feature_sign: FeatureSign = "monotone"
    #: starting value v0 of each cue weight: −softplus(v0) when monotone (−1 → −0.31 per unit of
    #: log(1 + count)), v0 itself when free. With early stopping the start acts as a prior
    #: ("more complexity, more cloud gain") that the data can shrink (see docs/ROUTER.md).
    feature_start: float = -1.0
    #: add a linear term of the mean-pooled (normalised) token states to each head's logit: a
    #: sentence-level path beside the key-token experts.
    sentence_path: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt_features", tuple(self.prompt_features))  # lists from settings
        for name in ("top_k", "rank", "hidden"):
            if int(getattr(self, name)) < 1:
                raise CheckpointError(f"architecture: {name} must be >= 1, got {getattr(self, name)}")
        if self.selection_noise < 0:
            raise CheckpointError(f"architecture: selection_noise must be >= 0, got {self.selection_noise}")
        if self.head_hidden < 0:
            raise CheckpointError(f"architecture: head_hidden must be >= 0, got {self.head_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise CheckpointError(f"architecture: dropout must be in [0, 1), got {self.dropout}")
        if self.affinity_softmax not in get_args(AffinitySoftmax):
            raise CheckpointError(
                f"architecture: affinity_softmax must be 'tokens' or 'experts', got {self.affinity_softmax!r}"
            )

        from routet2i.predictor.prompt_features import cue_problem

        problem = cue_problem(self.prompt_features)
        if problem:
            raise CheckpointError(f"architecture: {problem}")
        if self.feature_sign not in get_args(FeatureSign):
            raise CheckpointError(f"architecture: feature_sign must be 'monotone' or 'free', got {self.feature_sign!r}")

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict (``prompt_features`` as a list), as for a pydantic settings block."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["prompt_features"] = list(self.prompt_features)
        return out

    def predictor_config(self, *, d_model: int, n_metrics: int) -> PredictorConfig:
        """These settings with the encoder's width d and the number of metrics N."""
        own = {f.name: getattr(self, f.name) for f in fields(Architecture)}
        return PredictorConfig(d_model=d_model, n_metrics=n_metrics, **own)


@dataclass(frozen=True, kw_only=True)
class PredictorConfig(Architecture):
    """Everything :class:`~routet2i.predictor.model.KeyTokenPredictor` is built from: the
    :class:`Architecture` fields plus d and N (a checkpoint's ``architecture``)."""

    #: d, the width of the encoder's token states.
    d_model: int
    #: N, the number of metrics (= experts).
    n_metrics: int

    def __post_init__(self) -> None:
        for name in ("d_model", "n_metrics"):
            if int(getattr(self, name)) < 1:
                raise CheckpointError(f"architecture: {name} must be >= 1, got {getattr(self, name)}")
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-friendly (d and N first, as ``config.json`` has always listed them)."""
        return {"d_model": self.d_model, "n_metrics": self.n_metrics, **super().model_dump()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictorConfig:
        """Every field must be present (no defaults are filled in) and no other may be. Numbers are
        converted by their field's type; switches must be true or false and ``prompt_features`` a
        list of names."""
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise CheckpointError(
                f"architecture: missing fields {missing}, unknown fields {unknown}"
                if unknown
                else f"architecture: missing fields {missing}"
            )
        hints = get_type_hints(cls)
        try:
            values = {name: _from_json(name, hints[name], value) for name, value in data.items()}
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"architecture: {exc}") from exc
        return cls(**values)


def _from_json(name: str, kind: Any, value: Any) -> Any:
    """One ``config.json`` value as its field's type ``kind`` (Literal values are checked later)."""
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {value!r}")
        return value
    if kind is int or kind is float:
        return kind(value)
    if get_origin(kind) is Sequence:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{name} must be a list of names, got {value!r}")
        return tuple(str(c) for c in value)
    return value
