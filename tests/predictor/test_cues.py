"""The prompt-feature cues count what they document; their word lists come from the packaged
lexicon, whose hash the packaged router records."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from routet2i.errors import ConfigError
from routet2i.predictor.checkpoint import default_checkpoint_dir, read_meta
from routet2i.predictor.cues import (
    FEATURE_NAMES,
    LEXICON_FILE,
    complexity_score,
    feature_matrix,
    features,
    lexicon,
    lexicon_sha256,
    read_lexicon,
)


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


def test_the_word_lists_come_from_the_packaged_lexicon() -> None:
    lex = lexicon()
    assert LEXICON_FILE.is_file() and LEXICON_FILE.parent.name == "data"
    assert [cue for cue, _ in lex.lookup][:3] == ["counts", "negation", "comparison"]
    assert "next to" in lex.spatial_phrases and "the" in lex.function_words and "holding" in lex.common_verbs
    # a word in two lists counts for the first one in lookup order: "without" negates (not a
    # function word), "back" is spatial
    assert lex.cue_of["without"] == "negation" and lex.cue_of["back"] == "spatial"
    assert lexicon() is lex  # read once


def test_the_packaged_router_records_the_installed_lexicon() -> None:
    meta = read_meta(default_checkpoint_dir())
    assert meta.architecture.prompt_features  # the default router uses prompt features
    assert meta.cue_lexicon_sha256 == lexicon_sha256()
    assert json.loads((default_checkpoint_dir() / "config.json").read_text())["cue_lexicon_sha256"] == lexicon_sha256()


def test_the_hash_covers_the_words_not_the_file_layout(tmp_path: Path) -> None:
    data = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))

    def sha(doc: dict[str, Any]) -> str:
        path = tmp_path / "lexicon.json"
        path.write_text(json.dumps(doc, indent=None), encoding="utf-8")
        return read_lexicon(path).sha256

    assert sha(data) == lexicon_sha256() == hashlib.sha256(lexicon().canonical()).hexdigest()
    shuffled = copy.deepcopy(data)
    shuffled["about"] = "another note"
    shuffled["cues"]["people"].reverse()
    shuffled["cues"] = dict(reversed(list(shuffled["cues"].items())))
    assert sha(shuffled) == lexicon_sha256()  # formatting, notes and the order inside a list
    one_more = copy.deepcopy(data)
    one_more["function_words"].append("thing")
    reordered = copy.deepcopy(data)
    reordered["lookup_order"] = [*data["lookup_order"][1:], data["lookup_order"][0]]
    hashes = {sha(one_more), sha(reordered), lexicon_sha256()}
    assert len(hashes) == 3  # a word, or which list wins a shared word, changes the hash


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["cues"]["text"].append("sign"), "repeats"),
        (lambda d: d["cues"]["text"].append("Logo"), "lower-case"),
        (lambda d: d["cues"]["spatial"].append("next to"), "single"),
        (lambda d: d["cues"].pop("people"), "one word list for each"),
        (lambda d: d["lookup_order"].append("nouns"), "lookup_order"),
        (lambda d: d.pop("common_verbs"), "missing keys"),
        (lambda d: d.update(extra=[]), "unknown keys"),
    ],
)
def test_a_malformed_lexicon_is_a_clear_error(tmp_path: Path, edit: Any, message: str) -> None:
    data = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_lexicon(path)


def test_features_follow_the_installed_lexicon(edited_lexicon: str) -> None:
    assert edited_lexicon != read_meta(default_checkpoint_dir()).cue_lexicon_sha256
    f = features("a robot and a man")
    assert f["people"] == 2 and f["nouns"] == 0  # "robot" is a people word in the edited copy
