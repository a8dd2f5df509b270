"""Fold assignment by prompt hash and the training rows a split may use."""

from __future__ import annotations

import numpy as np
import pytest

from routet2i.errors import DataError
from routet2i.evaluation.harness import training_rows
from routet2i.evaluation.protocols import kfold_splits, lodo_split, make_splits
from routet2i.prompt_ids import prompt_fold, prompt_key
from routet2i.ratings.pairs import PairData, PairSpec

PROMPTS = [f"prompt number {i} with a cat" for i in range(40)]


def pair(dataset: str, prompts: list[str]) -> PairData:
    n = len(prompts)
    return PairData(
        spec=PairSpec("e", "c", dataset),
        datasets=[dataset] * n,
        prompt_ids=[str(i) for i in range(n)],
        prompts=list(prompts),
        metrics=["m"],
        q_edge=np.zeros((n, 1)),
        q_cloud=np.ones((n, 1)),
    )


def test_folds_are_deterministic_and_ignore_case_and_spacing() -> None:
    assert prompt_fold("A red  car", 5) == prompt_fold("a red car ", 5)
    assert prompt_key("  A Red\tcar ") == "a red car"
    assert [prompt_fold(p, 5) for p in PROMPTS] == [prompt_fold(p, 5) for p in PROMPTS]


def test_every_prompt_is_tested_exactly_once() -> None:
    splits = kfold_splits(PROMPTS, 5)
    tested = np.concatenate([s.test_index for s in splits])
    assert sorted(tested.tolist()) == list(range(len(PROMPTS)))
    assert len(splits) == 5  # 40 prompts fill every fold
    for s in splits:
        assert {prompt_key(PROMPTS[i]) for i in s.test_index} == s.held_out


def test_training_rows_never_hold_a_test_prompt_of_any_pair() -> None:
    evaluated = pair("d1", PROMPTS)
    # another pair of the same dataset repeats some prompts, in other case and order
    other = pair("d1", [p.upper() for p in reversed(PROMPTS[:20])] + ["an unrelated prompt"])
    for split in kfold_splits(evaluated.prompts, 4):
        rows = training_rows([evaluated, other], split)
        keys = {prompt_key(p) for r in rows for p in r.prompts}
        assert not keys & split.held_out
        assert "an unrelated prompt" in keys


def test_lodo_drops_the_held_out_dataset_and_its_prompts() -> None:
    evaluated = pair("d1", PROMPTS[:10])
    other = pair("d2", [*PROMPTS[5:15], "only in d2"])
    (split,) = lodo_split(evaluated.prompts, evaluated.datasets)
    assert split.exclude_dataset == "d1"
    rows = training_rows([evaluated, other], split)
    assert [r.datasets[0] for r in rows] == ["d2"]
    # the five d2 prompts that also occur in d1 are dropped too
    assert rows[0].prompts == [*PROMPTS[10:15], "only in d2"]


def test_bad_protocols_are_errors() -> None:
    with pytest.raises(DataError, match="protocol"):
        make_splits("loo", PROMPTS, ["d"] * 40, 5)
    with pytest.raises(DataError, match="at least 2"):
        kfold_splits(PROMPTS, 1)
    with pytest.raises(DataError, match="one dataset"):
        lodo_split(["a", "b"], ["d1", "d2"])
