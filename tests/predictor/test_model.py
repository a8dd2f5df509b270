"""The dual-gate token-selection predictor: shapes, masks, padding, determinism, ablations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from routet2i.errors import CheckpointError
from routet2i.predictor.architecture import PredictorConfig
from routet2i.predictor.model import KeyTokenPredictor

D = 16


def config(**over: Any) -> PredictorConfig:
    base: dict[str, Any] = dict(
        d_model=D,
        n_metrics=3,
        top_k=4,
        selection_noise=0.0,
        straight_through=False,
        rank=8,
        hidden=12,
        head_hidden=8,
        dropout=0.0,
        affinity_softmax="tokens",
        normalise_tokens=True,
        token_selection=True,
        dual_gate=True,
        per_metric_heads=True,
        prompt_features=(),
        feature_sign="monotone",
        feature_start=-1.0,
        sentence_path=False,
    )
    base.update(over)
    return PredictorConfig(**base)


def model(cfg: PredictorConfig | None = None, seed: int = 0, weights: list[float] | None = None) -> KeyTokenPredictor:
    torch.manual_seed(seed)
    return KeyTokenPredictor(cfg or config(), metric_weights=weights).eval()


def batch(lengths: list[int], n: int | None = None, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random states with the given real lengths; padding filled with large garbage."""
    g = torch.Generator().manual_seed(seed)
    n = n or max(lengths)
    states = torch.randn(len(lengths), n, D, generator=g)
    mask = torch.zeros(len(lengths), n, dtype=torch.bool)
    for i, k in enumerate(lengths):
        mask[i, :k] = True
        states[i, k:] = 1e4 * torch.randn(n - k, D, generator=g)
    return states, mask


VARIANTS = {
    "paper": {},
    "affinity-over-experts": {"affinity_softmax": "experts"},
    "no-token-selection": {"token_selection": False},
    "no-dual-gate": {"dual_gate": False},
    "single-prs-head": {"per_metric_heads": False},
    "linear-heads": {"head_hidden": 0},
    "single-metric": {"n_metrics": 1},
    "prompt-features": {"prompt_features": ("nouns", "counts", "people")},
    "free-prompt-features": {"prompt_features": ("nouns", "people"), "feature_sign": "free"},
    "sentence-path": {"sentence_path": True},
    "single-head-with-both-paths": {"per_metric_heads": False, "prompt_features": ("text",), "sentence_path": True},
}


def cues(cfg: PredictorConfig, b: int, seed: int = 3) -> torch.Tensor | None:
    """Random log(1 + count)-like cue values for the cues ``cfg`` names (None if it names none)."""
    if not cfg.prompt_features:
        return None
    return 3 * torch.rand(b, len(cfg.prompt_features), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_ranges_and_weights(variant: str) -> None:
    cfg = config(**VARIANTS[variant])
    m = model(cfg)
    states, mask = batch([7, 2, 5])
    out = m(states, mask, cues(cfg, 3))
    assert out.prs.shape == (3,)
    assert ((out.prs > 0) & (out.prs < 1)).all()
    if cfg.per_metric_heads:
        assert out.d_hat is not None and out.d_hat.shape == (3, cfg.n_metrics)
        assert ((out.d_hat > 0) & (out.d_hat < 1)).all()
        torch.testing.assert_close(out.prs, out.d_hat.mean(dim=1))  # uniform weights
    else:
        assert out.d_hat is None
    k = min(cfg.top_k, 7) if cfg.token_selection else 7
    assert out.selected.shape == out.selected_weight.shape == (3, cfg.n_metrics, k)
    torch.testing.assert_close(out.selected_weight.sum(dim=-1), torch.ones(3, cfg.n_metrics))


@pytest.mark.parametrize("variant", ["paper", "affinity-over-experts", "no-token-selection"])
def test_padding_is_never_selected_and_carries_no_weight(variant: str) -> None:
    m = model(config(**VARIANTS[variant]))
    states, mask = batch([7, 2, 5, 1])
    out = m(states, mask)
    chosen_real = mask.gather(1, out.selected.flatten(1)).view_as(out.selected)
    assert (out.selected_weight[~chosen_real] == 0).all()
    # a prompt with at least K real tokens fills every slot with real tokens
    assert chosen_real[0].all()
    # a prompt with 2 real tokens: exactly those 2 carry weight, every other slot is empty
    if variant != "no-token-selection":
        assert chosen_real[1].sum(dim=-1).tolist() == [2, 2, 2]
        assert set(out.selected[1, 0, :2].tolist()) == {0, 1}


def test_results_do_not_depend_on_padding_length() -> None:
    m = model()
    states, mask = batch([7, 2, 5])
    more_states, more_mask = batch([7, 2, 5], n=30, seed=2)
    more_states[:, :7] = states
    a, b = m(states, mask), m(more_states, more_mask)
    torch.testing.assert_close(a.prs, b.prs, atol=1e-6, rtol=0)
    assert a.d_hat is not None and b.d_hat is not None
    torch.testing.assert_close(a.d_hat, b.d_hat, atol=1e-6, rtol=0)
    # and a prompt gives the same prediction alone as in a padded batch
    alone = m(states[1:2, :2], mask[1:2, :2])
    torch.testing.assert_close(alone.prs, a.prs[1:2], atol=1e-6, rtol=0)


def test_fewer_real_tokens_than_k() -> None:
    m = model(config(top_k=8))
    states, mask = batch([3, 3])
    out = m(states, mask)
    assert out.selected.shape[-1] == 3  # k = min(K, n)
    assert torch.isfinite(out.prs).all()


def test_deterministic_init_and_forward() -> None:
    states, mask = batch([6, 4])
    a, b = model(seed=3), model(seed=3)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    assert torch.equal(a(states, mask).prs, b(states, mask).prs)
    assert torch.equal(a(states, mask).prs, a(states, mask).prs)


def test_metric_weights_make_prs() -> None:
    m = model(weights=[2.0, 1.0, 1.0])
    out = m(*batch([5, 5]))
    assert out.d_hat is not None
    torch.testing.assert_close(out.prs, out.d_hat @ torch.tensor([0.5, 0.25, 0.25]))
    with pytest.raises(ValueError, match="metric_weights"):
        KeyTokenPredictor(config(), metric_weights=[1.0, -1.0, 1.0])


def test_gradients_reach_expert_embeddings_through_the_selection() -> None:
    m = model().train()
    out = m(*batch([7, 5]))
    assert out.d_hat is not None
    out.d_hat.sum().backward()
    for name in ("expert_embeddings", "gate_plus", "gate_minus", "shared"):
        grad = getattr(m, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_wrong_width_or_mask_is_rejected() -> None:
    m = model()
    with pytest.raises(ValueError, match="width"):
        m(torch.zeros(1, 3, D + 1), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        m(torch.zeros(1, 3, D), torch.ones(1, 4, dtype=torch.bool))


def test_config_from_dict_requires_every_field() -> None:
    cfg = config()
    assert PredictorConfig.from_dict(cfg.to_dict()) == cfg
    data = cfg.to_dict()
    del data["top_k"]
    with pytest.raises(CheckpointError, match="missing fields \\['top_k'\\]"):
        PredictorConfig.from_dict(data)
    with pytest.raises(CheckpointError, match="unknown"):
        PredictorConfig.from_dict({**cfg.to_dict(), "extra": 1})
    with pytest.raises(CheckpointError, match="dual_gate"):
        PredictorConfig.from_dict({**cfg.to_dict(), "dual_gate": "yes"})
    with pytest.raises(CheckpointError, match="top_k"):
        replace(cfg, top_k=0)


def test_selection_noise_only_while_training() -> None:
    m = model(config(selection_noise=1.0, top_k=2))
    states, mask = batch([9, 9, 9, 9])
    ref = m(states, mask)
    assert torch.equal(m(states, mask).selected, ref.selected)  # eval: plain top-K, no noise
    m.train()
    torch.manual_seed(0)
    noisy = [m(states, mask).selected for _ in range(5)]
    assert any(not torch.equal(s, ref.selected) for s in noisy)
    for s in noisy:  # noise never selects padding either
        assert mask.gather(1, s.flatten(1)).all()


def test_straight_through_keeps_the_forward_value() -> None:
    plain = model(config(straight_through=False)).train()
    st = model(config(straight_through=True)).train()
    states, mask = batch([7, 3])
    a, b = plain(states, mask), st(states, mask)
    torch.testing.assert_close(a.prs, b.prs)
    assert b.d_hat is not None
    b.d_hat.sum().backward()
    # the expert embedding gets gradient from tokens outside the top-K too
    assert st.expert_embeddings.grad is not None and st.expert_embeddings.grad.abs().sum() > 0


def _randomise(m: KeyTokenPredictor, scale: float = 2.0) -> None:
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name in ("feature_weights", "sentence_weights"):
            if hasattr(m, name):
                p = getattr(m, name)
                p.copy_(scale * torch.randn(p.shape, generator=g))


def test_monotone_cues_can_only_make_the_cloud_look_better() -> None:
    cfg = config(prompt_features=("nouns", "counts", "people"))
    m = model(cfg)
    _randomise(m)  # whatever the learned weights, more of a cue never raises D̂
    states, mask = batch([6, 3, 4])
    f = cues(cfg, 3)
    assert f is not None
    base = m(states, mask, f).d_hat
    assert base is not None
    for j in range(f.shape[1]):
        more = f.clone()
        more[:, j] += 1.0
        d_more = m(states, mask, more).d_hat
        assert d_more is not None and (d_more < base).all()


def test_free_cues_can_push_either_way() -> None:
    cfg = config(prompt_features=("nouns", "people"), feature_sign="free")
    m = model(cfg)
    with torch.no_grad():
        m.feature_weights.copy_(torch.tensor([[1.0, -1.0]] * cfg.n_metrics))
    states, mask = batch([5, 5])
    f = torch.zeros(2, 2)
    base = m(states, mask, f).d_hat
    up = m(states, mask, torch.tensor([[1.0, 0.0]] * 2)).d_hat
    down = m(states, mask, torch.tensor([[0.0, 1.0]] * 2)).d_hat
    assert base is not None and up is not None and down is not None
    assert (up > base).all() and (down < base).all()


def test_prompt_features_are_required_exactly_when_configured() -> None:
    states, mask = batch([4, 2])
    with_cues = model(config(prompt_features=("nouns", "text")))
    with pytest.raises(ValueError, match="needs prompt features"):
        with_cues(states, mask)
    with pytest.raises(ValueError, match="needs prompt features"):
        with_cues(states, mask, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="takes no prompt features"):
        model()(states, mask, torch.zeros(2, 2))


def test_sentence_path_ignores_padding() -> None:
    m = model(config(sentence_path=True))
    _randomise(m)
    states, mask = batch([7, 2, 5])
    more_states, more_mask = batch([7, 2, 5], n=30, seed=2)
    more_states[:, :7] = states
    torch.testing.assert_close(m(states, mask).prs, m(more_states, more_mask).prs, atol=1e-6, rtol=0)
    # and it changes the prediction (the path is wired in)
    plain = model(config())
    assert not torch.allclose(m(states, mask).prs, plain(states, mask).prs)


def test_config_keeps_cue_names_and_rejects_unknown_ones() -> None:
    cfg = config(prompt_features=["people", "text"], sentence_path=True)
    assert cfg.prompt_features == ("people", "text")
    data = cfg.to_dict()
    assert data["prompt_features"] == ["people", "text"]  # JSON-friendly
    assert PredictorConfig.from_dict(data) == cfg
    with pytest.raises(CheckpointError, match="prompt_features"):
        config(prompt_features=("people", "unicorns"))
    with pytest.raises(CheckpointError, match="prompt_features"):
        config(prompt_features=("people", "people"))
    with pytest.raises(CheckpointError, match="feature_sign"):
        config(feature_sign="positive")
    with pytest.raises(CheckpointError, match="prompt_features"):
        PredictorConfig.from_dict({**data, "prompt_features": "people"})
