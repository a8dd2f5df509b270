"""The fits the learner makes on top of the base router (routet2i/learning/correction.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from routet2i.learning.correction import fit
from routet2i.predictor.correction import CORRECTION_KINDS, prior_scores
from tests.learning.synthetic import keyword_stream


def test_prior_scores_are_the_cloud_logit_of_prs() -> None:
    prs = np.array([0.1, 0.5, 0.9, 0.0, 1.0])
    s = prior_scores(prs)
    assert s[1] == pytest.approx(0.0) and s[0] == pytest.approx(np.log(9.0)) and s[2] == pytest.approx(-np.log(9.0))
    assert np.all(np.isfinite(s)) and np.all(np.diff(s[:3]) < 0)  # lower PRŜ → higher cloud score


def test_with_few_pairs_the_correction_ranks_like_the_prior() -> None:
    rng = np.random.default_rng(0)
    prior, x = rng.normal(size=12), rng.normal(size=(12, 64))
    gain = prior + rng.normal(0.0, 1.0, size=12)  # an informative prior, and too few pairs to beat it
    f = fit("correction", prior, x, gain)
    assert f.prior_weight > 0
    new_prior, new_x = rng.normal(size=200), rng.normal(size=(200, 64))
    rho = spearmanr(f.scores(new_prior, new_x), new_prior).statistic
    assert rho > 0.9


def test_with_many_pairs_the_correction_learns_what_the_prior_misses() -> None:
    prior, x, qe, qc = keyword_stream(400, seed=1)
    f = fit("correction", prior, x, qc - qe)
    prior_t, x_t, qe_t, qc_t = keyword_stream(400, seed=2)
    learned = spearmanr(f.scores(prior_t, x_t), qc_t - qe_t).statistic
    assert learned > 0.5 and abs(spearmanr(prior_t, qc_t - qe_t).statistic) < 0.15


def test_an_anti_informative_prior_gets_no_weight() -> None:
    rng = np.random.default_rng(3)
    gain = rng.normal(size=300)
    f = fit("correction", -gain, rng.normal(size=(300, 8)), gain)
    assert f.prior_weight == 0.0


@pytest.mark.parametrize("kind", CORRECTION_KINDS)
def test_every_kind_scores_new_prompts(kind: str) -> None:
    prior, x, qe, qc = keyword_stream(120, seed=4)
    f = fit(kind, prior, x, qc - qe)  # type: ignore[arg-type]
    s = f.scores(prior[:7], x[:7])
    assert s.shape == (7,) and np.all(np.isfinite(s)) and f.describe()["kind"] == kind
    if kind == "prior":
        assert spearmanr(s, prior[:7]).statistic == pytest.approx(1.0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fit"):
        fit("magic", np.zeros(5), np.zeros((5, 2)), np.zeros(5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="5 prior scores, 4 embeddings"):
        fit("correction", np.zeros(5), np.zeros((4, 2)), np.zeros(5))
