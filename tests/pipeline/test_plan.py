"""The plan: seeds shared by both tiers, one item per (tier, prompt, seed), safe file names."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from routet2i.errors import ConfigError
from routet2i.pipeline.plan import plan_items, safe_name, seeds_for
from routet2i.prompts import PromptRecord


def record(prompt: str, prompt_id: str, dataset: str = "ds") -> PromptRecord:
    return PromptRecord(prompt=prompt, prompt_id=prompt_id, dataset=dataset)


def test_seeds() -> None:
    assert seeds_for(3) == [0, 1, 2]
    assert seeds_for(2, base=2**32 - 1) == [2**32 - 1, 0]
    with pytest.raises(ConfigError, match="--seeds must be >= 1"):
        seeds_for(0)
    with pytest.raises(ConfigError, match="--seed-base"):
        seeds_for(1, base=-1)


def test_every_prompt_and_seed_on_both_tiers() -> None:
    records = [record("a cat", "p1"), record("a dog", "p2")]
    plan = plan_items(records, [5, 6])
    assert list(plan) == ["edge", "cloud"]
    for tier, items in plan.items():
        assert [(i.record.prompt_id, i.seed) for i in items] == [("p1", 5), ("p1", 6), ("p2", 5), ("p2", 6)]
        assert {i.tier for i in items} == {tier}
    item = plan["cloud"][1]
    assert item.key == ("cloud", "ds", "p1", 6)
    assert item.image_path == PurePosixPath("images/cloud/ds/p1-6.png")


def test_file_names_are_safe_and_collisions_refused() -> None:
    assert safe_name("a/b c") == "a_b_c"
    assert safe_name("..") == "_" and safe_name("") == "_"
    weird = plan_items([record("x", "../../etc", dataset="my data")], [0])["edge"][0]
    assert weird.image_path == PurePosixPath("images/edge/my_data/etc-0.png")
    with pytest.raises(ConfigError, match="map to the same file"):
        plan_items([record("x", "a/b"), record("y", "a_b")], [0])
