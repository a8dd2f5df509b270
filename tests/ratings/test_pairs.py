from __future__ import annotations

import numpy as np
import pytest

from routet2i.errors import DataError
from routet2i.ratings.pairs import PairSpec, build_pair, compute_targets, concat_pairs, train_gaps
from routet2i.ratings.table import Rating, RatingsTable
from routet2i.superiority import mu_gaps


def _table() -> RatingsTable:
    rows = []
    for i in range(6):
        for model, base in (("edge", 2.0), ("cloud", 3.0)):
            rows.append(Rating("d1", str(i), f"p{i}", model, "0", "align", base + (i % 3), "h"))
            if i != 2:
                rows.append(Rating("d1", str(i), f"p{i}", model, "0", "qual", base * 2 - i, "h"))
    rows.append(Rating("d1", "9", "p9", "edge", "0", "align", 1.0, "h"))  # no cloud score: dropped
    return RatingsTable(rows)


def test_parse_pair_spec() -> None:
    assert PairSpec.parse("genai-bench-527/SDXL_Turbo:DALLE_3") == PairSpec("SDXL_Turbo", "DALLE_3", "genai-bench-527")
    assert PairSpec.parse("a:b") == PairSpec("a", "b")
    assert str(PairSpec.parse("x/a:b")) == "x/a:b"
    with pytest.raises(DataError, match="EDGE:CLOUD"):
        PairSpec.parse("a-b")


def test_build_pair_aligns_prompts_and_marks_missing() -> None:
    pair = build_pair(_table(), PairSpec("edge", "cloud"), normalise="none")
    assert pair.metrics == ["align", "qual"]
    assert pair.prompt_ids == ["0", "1", "2", "3", "4", "5"]
    assert np.isnan(pair.q_edge[2, 1]) and np.isnan(pair.q_cloud[2, 1])
    assert pair.q_edge[4, 0] == 3.0 and pair.q_cloud[4, 0] == 4.0


def test_normalisation_leaves_d_unchanged() -> None:
    raw = compute_targets(build_pair(_table(), PairSpec("edge", "cloud"), normalise="none"))
    for method in ("zscore", "minmax"):
        norm = compute_targets(build_pair(_table(), PairSpec("edge", "cloud"), normalise=method))
        np.testing.assert_allclose(norm.d, raw.d)
        np.testing.assert_allclose(norm.prs, raw.prs)


def test_train_gaps_use_only_training_prompts() -> None:
    pair = build_pair(_table(), PairSpec("edge", "cloud"), normalise="none")
    gaps = train_gaps(pair, [0, 1])
    np.testing.assert_allclose(gaps, mu_gaps(pair.q_edge[:2], pair.q_cloud[:2]))
    targets = compute_targets(pair, gaps=gaps)
    np.testing.assert_allclose(targets.gaps, gaps)


def test_concat_pairs_unions_metrics() -> None:
    a = build_pair(_table(), PairSpec("edge", "cloud"), metrics=["align"], normalise="none")
    b = build_pair(_table(), PairSpec("cloud", "edge"), metrics=["qual"], normalise="none")
    pooled = concat_pairs([a, b])
    assert pooled.metrics == ["align", "qual"]
    assert len(pooled) == len(a) + len(b)
    assert np.isnan(pooled.q_edge[: len(a), 1]).all() and np.isnan(pooled.q_edge[len(a) :, 0]).all()
    assert pooled.pair_names[0] == "edge:cloud" and pooled.pair_names[-1] == "cloud:edge"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="'nope' not in the ratings"):
        build_pair(_table(), PairSpec("nope", "cloud"))
