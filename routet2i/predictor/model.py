r"""The key-token quality predictor: a dual-gate token-selection mixture of experts (DESIGN §1).

Input: token states T (B, n, d) of a frozen text encoder and their mask (B, n). Per metric i
(one expert each):

1. affinity logits  a_i[t] = T[t] · E_i / sqrt(d)  with a learned expert embedding E_i ∈ R^d;
   A = softmax over the prompt's real tokens (``affinity_softmax="tokens"``, default) or over the
   experts (``"experts"``); see :class:`~routet2i.predictor.architecture.PredictorConfig`;
2. expert-choice selection: expert i keeps the K tokens of highest affinity. Padding is masked
   *before* the top-K, so it is never selected; when a prompt has fewer than K real tokens the
   extra slots are padding with weight 0. While training, ``selection_noise`` > 0 adds Gumbel
   noise of that scale to the log-affinities before the top-K (at 1: the K tokens are sampled
   without replacement from A, the Gumbel-top-K trick), so a token the expert ranks low still gets
   selected now and then and can earn its place; inference always takes the plain top-K.
   With ``straight_through``, training also backpropagates as if every real token were pooled
   with its affinity (forward value: the top-K pooling, exactly; gradient: that of the soft
   pooling), so the expert embedding learns about tokens it did not select;
3. dual gate: T⁺ = T P_i⁺ S_i, T⁻ = T P_i⁻ S_i (P_i^± ∈ R^{d×l}, S_i ∈ R^{l×h} shared by both
   branches), T̂ = sigmoid(T⁺ − T⁻) ∈ (0, 1)^h; computed as sigmoid((T P_i⁺ − T P_i⁻) S_i),
   which is the same number;
4. pooling: z_i = Σ_selected w_t T̂[t] with w the selected tokens' affinities renormalised to
   sum to 1; head i (linear or a one-hidden-layer MLP) → D̂_i = sigmoid(·) ∈ (0, 1).

Optional linear paths beside the experts (both off in the paper's predictor, both on in the
shipped default; they add to each head's logit before the sigmoid):

- ``prompt_features``: prompt-feature cues f (log(1 + count) of objects, counts, attributes,
  spatial words, text to render, people…; :mod:`routet2i.predictor.prompt_features`) with weights
  −softplus(v_i) (``feature_sign="monotone"``: a cue can only make the cloud look better, so what
  is learned on one dataset cannot flip sign on another) or free weights;
- ``sentence_path``: u_i · mean of the (normalised) token states, a sentence-level term that on a
  few hundred prompts learns faster than the experts.

PRŜ = Σ_i w_i D̂_i with the metric weights of the checkpoint. Ablations (config switches):
no token selection (pool every real token), no dual gate (T̂ = T P_i S_i, no contrast), and a
single PRS head (one MLP on the concatenated z_i predicts PRS; no D̂_i).

Results do not depend on how much padding a batch carries: padded positions are zeroed before
anything else, never selected, and carry weight exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from routet2i.encoders.base import mean_pool
from routet2i.predictor.architecture import PredictorConfig

#: Masked affinity logits; finite (not -inf) so a row of padding can never produce NaN gradients.
_MASKED = -1e9


@dataclass
class PredictorOutput:
    """One forward pass. B prompts, N metrics, k = min(K, n) slots (n without token selection)."""

    #: PRŜ (B,), in (0, 1).
    prs: torch.Tensor
    #: D̂ (B, N) in (0, 1); None for the single-PRS-head ablation.
    d_hat: torch.Tensor | None
    #: token positions kept by each expert (B, N, k), highest affinity first.
    selected: torch.Tensor
    #: their pooling weights (B, N, k); 0 on padding slots, each row sums to 1.
    selected_weight: torch.Tensor


class KeyTokenPredictor(nn.Module):
    """Predicts D̂ per metric and PRŜ from token states (see the module docstring)."""

    #: PRS weights per metric (N,), summing to 1 (a buffer, not saved: config.json holds them).
    metric_weights: torch.Tensor

    def __init__(self, config: PredictorConfig, metric_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.config = config
        n, d, rank, h = config.n_metrics, config.d_model, config.rank, config.hidden
        self.expert_embeddings = nn.Parameter(torch.randn(n, d))
        self.gate_plus = nn.Parameter(torch.randn(n, d, rank) / math.sqrt(d))
        if config.dual_gate:
            self.gate_minus = nn.Parameter(torch.randn(n, d, rank) / math.sqrt(d))
        self.shared = nn.Parameter(torch.randn(n, rank, h) / math.sqrt(rank))
        self.dropout = nn.Dropout(config.dropout)
        hh = config.head_hidden
        if config.per_metric_heads:
            width = hh if hh else h
            if hh:
                self.head_w1 = nn.Parameter(torch.randn(n, h, hh) / math.sqrt(h))
                self.head_b1 = nn.Parameter(torch.zeros(n, hh))
            self.head_w = nn.Parameter(torch.randn(n, width) / math.sqrt(width) * 0.1)
            self.head_b = nn.Parameter(torch.zeros(n))
        else:
            layers: list[nn.Module] = (
                [nn.Linear(n * h, hh), nn.GELU(), nn.Linear(hh, 1)] if hh else [nn.Linear(n * h, 1)]
            )
            self.prs_head = nn.Sequential(*layers)
        n_out = n if config.per_metric_heads else 1
        if config.prompt_features:
            self.feature_weights = nn.Parameter(torch.full((n_out, len(config.prompt_features)), config.feature_start))
        if config.sentence_path:
            self.sentence_weights = nn.Parameter(torch.zeros(n_out, d))
        w = (
            torch.full((n,), 1.0 / n)
            if metric_weights is None
            else torch.as_tensor(list(metric_weights), dtype=torch.float32)
        )
        if w.shape != (n,) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"metric_weights must be {n} non-negative numbers, not all zero; got {w.tolist()}")
        self.register_buffer("metric_weights", w / w.sum(), persistent=False)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor, features: torch.Tensor | None = None
    ) -> PredictorOutput:
        """``features``: (B, F) prompt-feature cues in ``config.prompt_features`` order (required
        exactly when the config names some)."""
        cfg = self.config
        b, n_tok, d = states.shape
        if d != cfg.d_model:
            raise ValueError(f"token states have width {d}, the predictor expects {cfg.d_model}")
        if mask.shape != (b, n_tok):
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match states {(b, n_tok)}")
        real = mask.bool()
        x = states.float()
        if cfg.normalise_tokens:
            x = F.layer_norm(x, (cfg.d_model,))  # the config's d (= d, checked): a constant for the ONNX export
        x = torch.where(real.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))

        logits = torch.einsum("bnd,ed->ben", x, self.expert_embeddings) / math.sqrt(cfg.d_model)  # (B, N, n)
        pad = ~real.unsqueeze(1)
        # log-affinity up to a per-expert constant: the ranking score of each token
        log_aff = logits if cfg.affinity_softmax == "tokens" else torch.log_softmax(logits, dim=1)
        log_aff = log_aff.masked_fill(pad, _MASKED)

        n_exp = cfg.n_metrics
        if cfg.token_selection:
            k = min(cfg.top_k, n_tok)
            rank_by = log_aff
            if self.training and cfg.selection_noise > 0:
                gumbel = -torch.log(-torch.log(torch.rand_like(log_aff).clamp(1e-9, 1 - 1e-9)))
                rank_by = log_aff + cfg.selection_noise * gumbel.masked_fill(pad, 0.0)
            idx = rank_by.topk(k, dim=-1).indices  # (B, N, k)
        else:
            k = n_tok
            idx = torch.arange(n_tok, device=x.device).expand(b, n_exp, n_tok)
        valid = real.gather(1, idx.reshape(b, -1)).reshape(b, n_exp, k)
        top = log_aff.gather(-1, idx)
        # the selected tokens' affinities renormalised over the selection (0 on padding)
        weight = torch.softmax(top.masked_fill(~valid, _MASKED), dim=-1) * valid

        sel = x.gather(1, idx.reshape(b, -1, 1).expand(-1, -1, d)).reshape(b, n_exp, k, d)
        pooled = torch.einsum("bek,bekh->beh", weight, self._gate(sel))  # (B, N, h)
        if self.training and cfg.token_selection and cfg.straight_through:
            soft_w = torch.softmax(log_aff, dim=-1) * real.unsqueeze(1)
            soft = torch.einsum("ben,benh->beh", soft_w, self._gate(x.unsqueeze(1).expand(b, n_exp, n_tok, d)))
            pooled = pooled + soft - soft.detach()
        pooled = self.dropout(pooled)
        extra = self._linear_paths(x, real, features)

        d_hat: torch.Tensor | None
        if cfg.per_metric_heads:
            z = pooled
            if cfg.head_hidden:
                z = F.gelu(torch.einsum("beh,ehj->bej", z, self.head_w1) + self.head_b1)
            d_hat = torch.sigmoid((z * self.head_w).sum(dim=-1) + self.head_b + extra)  # (B, N)
            prs = d_hat @ self.metric_weights
        else:
            d_hat = None
            prs = torch.sigmoid(self.prs_head(pooled.reshape(b, -1)).squeeze(-1) + extra[:, 0])
        return PredictorOutput(prs=prs, d_hat=d_hat, selected=idx, selected_weight=weight)

    def _linear_paths(self, x: torch.Tensor, real: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """The logit terms of the optional linear paths, (B, N) or (B, 1) for the single head."""
        cfg = self.config
        b = x.shape[0]
        n_out = cfg.n_metrics if cfg.per_metric_heads else 1
        extra = torch.zeros(b, n_out, dtype=x.dtype, device=x.device)
        if cfg.prompt_features:
            if features is None or features.shape != (b, len(cfg.prompt_features)):
                got = None if features is None else tuple(features.shape)
                raise ValueError(f"this predictor needs prompt features {(b, len(cfg.prompt_features))}, got {got}")
            w = -F.softplus(self.feature_weights) if cfg.feature_sign == "monotone" else self.feature_weights
            extra = extra + features.to(x.dtype) @ w.T
        elif features is not None:
            raise ValueError("this predictor takes no prompt features")
        if cfg.sentence_path:
            extra = extra + mean_pool(x, real) @ self.sentence_weights.T
        return extra

    def _gate(self, tokens: torch.Tensor) -> torch.Tensor:
        """T̂ for token states (B, N, k, d) → (B, N, k, h): sigmoid(T⁺ − T⁻), or T P S without the dual gate."""
        proj = torch.einsum("bekd,edl->bekl", tokens, self.gate_plus)
        if self.config.dual_gate:
            proj = proj - torch.einsum("bekd,edl->bekl", tokens, self.gate_minus)
        gated = torch.einsum("bekl,elh->bekh", proj, self.shared)
        return torch.sigmoid(gated) if self.config.dual_gate else gated
