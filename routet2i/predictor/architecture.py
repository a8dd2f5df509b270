"""The predictor's architecture numbers and switches, in one dataclass with no defaults.

Defaults live in ``configs/training.yaml`` (``architecture:``); a checkpoint's ``config.json``
holds every field, and loading reads them all from there (:meth:`PredictorConfig.from_dict`
rejects a missing or unknown field), so a checkpoint always says how it was built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from routet2i.errors import CheckpointError

AffinitySoftmax = Literal["tokens", "experts"]
FeatureSign = Literal["monotone", "free"]


@dataclass(frozen=True)
class PredictorConfig:
    """Sizes and switches of :class:`~routet2i.predictor.model.KeyTokenPredictor`.

    ``affinity_softmax``: the axis of A = softmax(T Eᵀ / sqrt(d)). ``tokens`` (default): for each
    expert a distribution over the prompt's real tokens, the expert-choice view in which an expert
    ranks tokens; it is defined for a single metric (N = 1, where a softmax over experts is
    constant 1 and cannot rank tokens) and never gives weight to padding. ``experts``: for each
    token a distribution over experts (the classic MoE gate); tokens are then ranked per expert
    by that probability. Either way the selected tokens are pooled with their affinities
    renormalised to sum to 1 over the selection.
    """

    #: d, the width of the encoder's token states.
    d_model: int
    #: N, the number of metrics (= experts).
    n_metrics: int
    #: K, tokens kept per expert (expert-choice top-K; fewer if the prompt is shorter).
    top_k: int
    #: scale of the Gumbel noise added to log-affinities before the top-K while training (0: none;
    #: 1: sample the K tokens from A). Inference never adds noise.
    selection_noise: float
    #: training only: gradients as if all real tokens were pooled by affinity (straight-through
    #: estimator of the top-K); the forward value stays the top-K pooling.
    straight_through: bool
    #: l, the rank of the gate projections P⁺, P⁻ (d × l).
    rank: int
    #: h, the width of the shared S (l × h) and of each expert's pooled vector.
    hidden: int
    #: hidden width of each metric head's MLP (0: a linear head).
    head_hidden: int
    #: dropout on the pooled vectors during training.
    dropout: float
    affinity_softmax: AffinitySoftmax
    #: layer-normalise token states (no learned scale) before the experts see them.
    normalise_tokens: bool
    #: ablation switch: False → every real token is pooled (no top-K).
    token_selection: bool
    #: ablation switch: False → a single low-rank projection T P S, no sigmoid(T⁺ − T⁻) contrast.
    dual_gate: bool
    #: ablation switch: False → one head predicts PRS directly from all experts' pooled vectors
    #: (no per-metric D̂).
    per_metric_heads: bool
    #: prompt-feature cues (names from :data:`routet2i.complexity.FEATURE_NAMES`) added, as
    #: log(1 + count), linearly to each head's logit; empty: none (the paper's predictor).
    prompt_features: tuple[str, ...]
    #: ``monotone``: every cue can only lower D̂ (more complexity → the cloud gains more; the
    #: weights are −softplus(v)), so a cue learned on one dataset cannot flip sign on another;
    #: ``free``: unconstrained weights.
    feature_sign: FeatureSign
    #: starting value v0 of each cue weight: −softplus(v0) when monotone (−1 → −0.31 per unit of
    #: log(1 + count)), v0 itself when free. With early stopping the start acts as a prior
    #: ("more complexity, more cloud gain") that the data can shrink.
    feature_start: float
    #: add a linear term of the mean-pooled (normalised) token states to each head's logit: a
    #: sentence-level path beside the key-token experts.
    sentence_path: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt_features", tuple(self.prompt_features))  # lists from settings
        for name in ("d_model", "n_metrics", "top_k", "rank", "hidden"):
            if int(getattr(self, name)) < 1:
                raise CheckpointError(f"architecture: {name} must be >= 1, got {getattr(self, name)}")
        if self.selection_noise < 0:
            raise CheckpointError(f"architecture: selection_noise must be >= 0, got {self.selection_noise}")
        if self.head_hidden < 0:
            raise CheckpointError(f"architecture: head_hidden must be >= 0, got {self.head_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise CheckpointError(f"architecture: dropout must be in [0, 1), got {self.dropout}")
        if self.affinity_softmax not in ("tokens", "experts"):
            raise CheckpointError(
                f"architecture: affinity_softmax must be 'tokens' or 'experts', got {self.affinity_softmax!r}"
            )

        from routet2i.predictor.prompt_features import cue_problem

        problem = cue_problem(self.prompt_features)
        if problem:
            raise CheckpointError(f"architecture: {problem}")
        if self.feature_sign not in ("monotone", "free"):
            raise CheckpointError(
                f"architecture: feature_sign must be 'monotone' or 'free', got {self.feature_sign!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["prompt_features"] = list(self.prompt_features)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictorConfig:
        """Every field must be present (no defaults are filled in) and no other may be."""
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise CheckpointError(
                f"architecture: missing fields {missing}, unknown fields {unknown}"
                if unknown
                else f"architecture: missing fields {missing}"
            )
        types = {"d_model": int, "n_metrics": int, "top_k": int, "rank": int, "hidden": int, "head_hidden": int}
        try:
            values: dict[str, Any] = {k: (types[k](v) if k in types else v) for k, v in data.items()}
            values["dropout"] = float(values["dropout"])
            values["selection_noise"] = float(values["selection_noise"])
            values["feature_start"] = float(values["feature_start"])
            if not isinstance(values["prompt_features"], list | tuple):
                raise TypeError(f"prompt_features must be a list of names, got {values['prompt_features']!r}")
            values["prompt_features"] = tuple(str(c) for c in values["prompt_features"])
            flags = ("straight_through", "normalise_tokens", "token_selection", "dual_gate", "per_metric_heads")
            for flag in (*flags, "sentence_path"):
                if not isinstance(values[flag], bool):
                    raise TypeError(f"{flag} must be true or false, got {values[flag]!r}")
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"architecture: {exc}") from exc
        return cls(**values)
