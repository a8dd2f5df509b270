"""The prompt-complexity heuristic counts the cues it documents."""

from __future__ import annotations

import numpy as np

from routet2i.complexity import FEATURE_NAMES, complexity_score, feature_matrix, features


def test_counts_objects_numbers_spatial_attributes_and_text() -> None:
    f = features('Two red apples on a wooden table next to a sign that reads "fresh fruit", and a cat.')
    assert f["counts"] == 1  # two
    assert f["attributes"] == 2  # red, wooden
    assert f["spatial"] == 2  # on, next to
    assert f["nouns"] >= 4  # apples, table, sign? (a text cue), cat, fruit is quoted
    assert f["text"] == 1 + 2 / 2 + 2  # one quoted span of two words, cues "sign" and "reads"
    assert f["conjuncts"] == 2  # the comma and "and"


def test_negation_and_comparison_are_counted_but_do_not_score() -> None:
    plain = "A garden full of flowers"
    negated = "A garden full of flowers, not a single rose"
    assert features(negated)["negation"] == 1
    assert features("A tree taller than the house")["comparison"] == 2  # "than" and "taller than"
    # the negated prompt scores more only through its extra noun, comma and count word
    f = features(negated)
    assert complexity_score(negated) - complexity_score(plain) == (
        (f["nouns"] - features(plain)["nouns"]) * 1.0 + f["counts"] * 1.5 + f["conjuncts"] * 0.5
    )


def test_complex_prompts_score_above_simple_ones() -> None:
    simple = "a dog"
    complex_ = "Three small dogs sitting under a blue umbrella beside two bicycles, with a 'Welcome' banner"
    assert complexity_score(complex_) > complexity_score(simple) > 0


def test_feature_matrix_has_one_column_per_feature() -> None:
    m = feature_matrix(["a dog", "two cats on a mat", ""])
    assert m.shape == (3, len(FEATURE_NAMES))
    assert np.all(m[2] == 0)
    assert m[1, FEATURE_NAMES.index("words")] == 5


def test_people_and_anatomy_are_their_own_cue() -> None:
    f = features("A portrait of a girl holding a cup with both hands")
    assert f["people"] == 3  # portrait, girl, hands
    assert f["nouns"] == 1  # cup; people words are not nouns as well
    # a person weighs more than an object: small models fail on human anatomy
    assert complexity_score("a man on a bench") > complexity_score("a box on a bench")
