"""The training loop learns a keyword task, and the selection really finds the key tokens.

Token states here come from a fixed random embedding per word (no context mixing), so the only
way to predict the targets is to select the keyword's token: a test of the selection itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from routet2i.predictor.architecture import PredictorConfig
from routet2i.predictor.model import KeyTokenPredictor, PredictorOutput
from routet2i.predictor.token_cache import TokenStates
from routet2i.predictor.training import Examples, fit, masked_loss, predict
from tests.predictor.keyword_data import FILLER, KEYWORDS, keyword_prompts

D = 16


def word_states(prompts: list[str], seed: int = 0) -> TokenStates:
    g = torch.Generator().manual_seed(seed)
    vocab = ["<start>", *FILLER, *KEYWORDS]
    table = {w: torch.randn(D, generator=g) for w in vocab}
    states = [torch.stack([table[w] for w in ["<start>", *p.split()]]) for p in prompts]
    return TokenStates(prompts=prompts, states=states)


def targets(prompts: list[str]) -> np.ndarray:
    return np.asarray([[0.1 if kw in p.split() else 0.9 for kw in KEYWORDS] for p in prompts])


@pytest.fixture(scope="module")
def trained() -> tuple[KeyTokenPredictor, TokenStates, list[str], float]:
    prompts = keyword_prompts(260, seed=0)
    tokens = word_states(prompts)
    d = targets(prompts)
    prs = d.mean(axis=1)
    cfg = PredictorConfig(
        d_model=D, n_metrics=2, top_k=2, selection_noise=1.0, straight_through=True, rank=8, hidden=8, head_hidden=0, dropout=0.0, affinity_softmax="tokens",
        normalise_tokens=True, token_selection=True, dual_gate=True, per_metric_heads=True, prompt_features=(), feature_sign="monotone", feature_start=-1.0, sentence_path=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = KeyTokenPredictor(cfg)
    train = Examples.make(range(200), d[:200], prs[:200])
    val = Examples.make(range(200, 260), d[200:], prs[200:])
    result = fit(model, tokens, train, val, lr=0.02, batch_size=16, epochs=25, patience=0, seed=0)
    return model, tokens, prompts[200:], result.best_val_loss


def test_keyword_task_is_learned_to_low_loss(trained: tuple[KeyTokenPredictor, TokenStates, list[str], float]) -> None:
    model, tokens, val_prompts, best_val = trained
    # predicting the mean gives 0.16; the keyword alone explains everything
    assert best_val < 0.01
    _, d_hat = predict(model, tokens, tokens.rows_of(val_prompts))
    assert d_hat is not None
    np.testing.assert_allclose(d_hat, targets(val_prompts), atol=0.15)


def test_each_expert_selects_its_keyword(trained: tuple[KeyTokenPredictor, TokenStates, list[str], float]) -> None:
    model, tokens, val_prompts, _ = trained
    states, mask = tokens.batch(tokens.rows_of(val_prompts))
    with torch.no_grad():
        out = model(states, mask)
    for expert, kw in enumerate(KEYWORDS):
        with_kw = [i for i, p in enumerate(val_prompts) if kw in p.split()]
        assert len(with_kw) > 10
        hits = 0
        for i in with_kw:
            position = ["<start>", *val_prompts[i].split()].index(kw)
            kept = out.selected[i, expert][out.selected_weight[i, expert] > 0].tolist()
            hits += position in kept
        assert hits / len(with_kw) >= 0.95, (kw, hits, len(with_kw))


def test_masked_loss_ignores_missing_targets() -> None:
    d_hat = torch.tensor([[0.2, 0.9], [0.5, 0.5]])
    out = PredictorOutput(
        prs=d_hat.mean(1), d_hat=d_hat, selected=torch.zeros(2, 2, 1), selected_weight=torch.ones(2, 2, 1)
    )
    d = torch.tensor([[0.0, math.nan], [1.0, math.nan]])
    loss, n = masked_loss(out, d, torch.tensor([0.0, 1.0]))
    assert n == 2
    assert float(loss) == pytest.approx((0.2**2 + 0.5**2) / 2)


def test_training_is_reproducible() -> None:
    prompts = keyword_prompts(40, seed=1)
    tokens = word_states(prompts)
    d = targets(prompts)
    cfg = PredictorConfig(
        d_model=D, n_metrics=2, top_k=2, selection_noise=1.0, straight_through=True, rank=4, hidden=4, head_hidden=4, dropout=0.2, affinity_softmax="tokens",
        normalise_tokens=True, token_selection=True, dual_gate=True, per_metric_heads=True, prompt_features=(), feature_sign="monotone", feature_start=-1.0, sentence_path=False,
    )  # fmt: skip
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        m = KeyTokenPredictor(cfg)
        ex = Examples.make(range(30), d[:30], d[:30].mean(1))
        val = Examples.make(range(30, 40), d[30:], d[30:].mean(1))
        res = fit(m, tokens, ex, val, lr=0.01, batch_size=8, epochs=3, seed=7)
        runs.append((res.history, predict(m, tokens, list(range(40)))[0]))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("select", ["loss", "spearman", "last"])
def test_the_selected_epoch_is_kept(select: str) -> None:
    prompts = keyword_prompts(60, seed=2)
    tokens = word_states(prompts)
    d = targets(prompts)
    cfg = PredictorConfig(
        d_model=D, n_metrics=2, top_k=2, selection_noise=1.0, straight_through=True, rank=4, hidden=4, head_hidden=0,
        dropout=0.0, affinity_softmax="tokens", normalise_tokens=True, token_selection=True, dual_gate=True,
        per_metric_heads=True, prompt_features=(), feature_sign="monotone", feature_start=-1.0, sentence_path=False,
    )  # fmt: skip
    torch.manual_seed(0)
    m = KeyTokenPredictor(cfg)
    val = Examples.make(range(40, 60), d[40:], d[40:].mean(1))
    res = fit(m, tokens, Examples.make(range(40), d[:40], d[:40].mean(1)), val, lr=0.02, batch_size=8, epochs=6,
              seed=0, select=select)  # type: ignore[arg-type]  # fmt: skip
    hist = res.history
    assert len(hist) == res.epochs_run == 6
    expected = {
        "loss": min(hist, key=lambda h: h["val_loss"])["epoch"],
        "spearman": max(hist, key=lambda h: h["val_spearman"])["epoch"],
        "last": 6,
    }[select]
    assert res.best_epoch == expected
    kept = hist[res.best_epoch - 1]
    # the weights in the model are those of the kept epoch
    assert res.best_val_loss == pytest.approx(kept["val_loss"])
    from routet2i.predictor.training import evaluate_loss

    assert evaluate_loss(m, tokens, val) == pytest.approx(kept["val_loss"], rel=1e-5)


def test_cue_weights_learn_a_count_driven_target() -> None:
    """Token states that say nothing (one constant vector per prompt): only the cue path can
    predict D, which falls with the number of people in the prompt. The cue weights must learn
    it, and the monotone weights must put the mass on the cue that matters."""
    rng = np.random.default_rng(0)
    people = ["man", "woman", "girl", "boy", "chef"]
    prompts = []
    for i in range(240):
        who = [str(w) for w in rng.choice(people, size=int(rng.integers(0, 4)))]
        things = [str(w) for w in rng.choice(["table", "lamp", "river", "book"], size=int(rng.integers(1, 3)))]
        prompts.append(" ".join(["a", *who, *things, f"scene{chr(97 + i % 26)}{chr(97 + i // 26)}"]))
    n_people = np.asarray([sum(w in people for w in p.split()) for p in prompts], dtype=float)
    d = (1 / (1 + np.exp(-(1.5 - 1.5 * np.log1p(n_people)))))[:, None]
    const = torch.ones(D)
    tokens = TokenStates(prompts=prompts, states=[const.expand(3, D).clone() for _ in prompts])
    cfg = PredictorConfig(
        d_model=D, n_metrics=1, top_k=2, selection_noise=0.0, straight_through=False, rank=4, hidden=4, head_hidden=0,
        dropout=0.0, affinity_softmax="tokens", normalise_tokens=False, token_selection=True, dual_gate=True,
        per_metric_heads=True, prompt_features=("nouns", "people"), feature_sign="monotone", feature_start=-3.0, sentence_path=False,
    )  # fmt: skip
    losses = {}
    for scale in (1.0, 30.0):
        torch.manual_seed(0)
        model = KeyTokenPredictor(cfg)
        train = Examples.make(range(200), d[:200], d[:200, 0])
        val = Examples.make(range(200, 240), d[200:], d[200:, 0])
        result = fit(model, tokens, train, val, lr=1e-3, batch_size=16, epochs=30, seed=0, feature_lr_scale=scale)
        losses[scale] = result.best_val_loss
        weights = -torch.nn.functional.softplus(model.feature_weights.detach())[0]
    # the cue that matters ("people") gets the weight, the other stays near 0; both are <= 0
    assert bool((weights <= 0).all())
    assert float(weights[1]) < -1.0 < -0.1 < float(weights[0])  # the target's slope is -1.5
    # at the base learning rate the cue weights barely move in 30 epochs; 30x learns the task
    assert losses[30.0] < 0.2 * losses[1.0]
    assert losses[30.0] < 2e-3
