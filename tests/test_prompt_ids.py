"""Prompt ids, split positions, keys and folds: stored or split-deciding values that must never move."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from routet2i.prompt_ids import default_prompt_id, prompt_fold, prompt_key, prompt_sha1, split_fraction
from routet2i.prompts import read_prompts


def test_default_prompt_id_is_a_stable_hash_shared_by_models() -> None:
    assert default_prompt_id("a cat") == "008bd0f0660e"  # sha1("a cat")[:12]: stable across runs and machines
    assert default_prompt_id("a cat") != default_prompt_id("a dog")


@pytest.mark.parametrize(
    ("prompt", "prompt_id", "fraction", "fold5", "fold10"),
    [
        ("a cat", "008bd0f0660e", 0.0021334254179766715, 1, 6),
        ("  A Red\tcar ", "ca020d3b8c76", 0.7890938063032662, 2, 7),
        ("a red car", "247d56fb9efa", 0.1425375332173461, 2, 7),
        ("\u201cmoon\u201d", "8a29fa2423c0", 0.5397030199271758, 3, 8),
    ],
)
def test_values_are_pinned(prompt: str, prompt_id: str, fraction: float, fold5: int, fold10: int) -> None:
    # the values the three former copies (quality.manifest, predictor.dataset, evaluation.protocols) gave
    assert prompt_sha1(prompt) == hashlib.sha1(prompt.encode("utf-8")).digest()
    assert default_prompt_id(prompt) == prompt_id
    assert split_fraction(prompt) == fraction
    assert (prompt_fold(prompt, 5), prompt_fold(prompt, 10)) == (fold5, fold10)


def test_exact_text_hashes_differ_by_spelling_but_keys_and_folds_do_not() -> None:
    assert default_prompt_id("A cat") != default_prompt_id("a cat")
    assert split_fraction("A cat") != split_fraction("a cat")
    assert prompt_key("A  cat ") == prompt_key("a cat") == "a cat"
    assert prompt_fold("A  cat ", 7) == prompt_fold("a cat", 7)


def _digest(values: list[str]) -> str:
    return hashlib.sha256("\n".join(values).encode("utf-8")).hexdigest()


@pytest.mark.shared_data
def test_real_prompts_keep_their_ids_splits_and_folds(shared_data: Path) -> None:
    # digests of the values computed before the three copies were merged (PartiPrompts then DrawBench)
    records = read_prompts(shared_data / "partiprompts" / "PartiPrompts.tsv")
    records += read_prompts(shared_data / "drawbench" / "drawbench.csv", column="Prompt")
    texts = [r.prompt for r in records]
    assert len(texts) == 1832
    assert [r.prompt_id for r in records] == [default_prompt_id(t) for t in texts]
    assert _digest([default_prompt_id(t) for t in texts]) == (
        "48eae021c80e086169e9bb2093f5b8992e3747ee5423b53d475e66269168c983"
    )
    assert _digest([repr(split_fraction(t)) for t in texts]) == (
        "4780491a7db78ba009f008e9c9db85250be0c9e950a58da1f77892a46e92ab89"
    )
    assert _digest([str(prompt_fold(t, 5)) for t in texts]) == (
        "fe006f78e6a24ce45db21052c9b36acabdfe40571a45728f3b080d9a26872a81"
    )
