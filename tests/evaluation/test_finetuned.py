"""The learned baselines, frozen and fine-tuned: one contract battery for all six, on a tiny BERT,
then what only the fine-tuned ones must do (train a copy, never the shared encoder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from routet2i.evaluation.candidates import Candidate, TrainingData
from routet2i.evaluation.embeddings import EmbeddingCache
from routet2i.evaluation.encoder_memo import EncoderPool
from routet2i.evaluation.finetuned import FineTunedCandidate, FineTuneSettings
from routet2i.evaluation.harness import EvaluationSettings, evaluate_pair
from routet2i.evaluation.learned import (
    HybridLLMCandidate,
    RouteLLMCandidate,
    ZooterCandidate,
    cloud_wins,
    quality_gap,
    tier_rewards,
)
from routet2i.evaluation.registry import BASELINES, CandidateFactory
from routet2i.ratings.pairs import PairSpec, build_pair
from routet2i.ratings.table import RatingsTable

#: Fast enough for a tiny BERT, strong enough to learn the synthetic target in a few epochs.
FAST = FineTuneSettings(epochs=8, patience=8, batch_size=8, lr=1e-3, head_lr=1e-2)


def learned(spec: str, pool: EncoderPool) -> dict[str, Callable[[], Candidate]]:
    cache = EmbeddingCache(spec=spec, pool=pool)
    return {
        "routellm": lambda: RouteLLMCandidate(cache=cache),
        "hybridllm": lambda: HybridLLMCandidate(cache=cache),
        "zooter": lambda: ZooterCandidate(cache=cache),
        **{
            f"{k}-ft": (lambda k=k: FineTunedCandidate(name=f"{k}-ft", kind=k, spec=spec, pool=pool, settings=FAST))
            for k in ("routellm", "hybridllm", "zooter")
        },
    }


@pytest.fixture(scope="module")
def pool() -> EncoderPool:
    return EncoderPool()


@pytest.fixture(scope="module")
def spec(tiny_bert_dir: Path) -> str:
    return f"hf:{tiny_bert_dir}"


def training(table: RatingsTable, seed: int = 0) -> TrainingData:
    return TrainingData(pairs=[build_pair(table, PairSpec.parse("synth-a/light:heavy"), normalise="zscore")], seed=seed)


@pytest.mark.parametrize("name", ["routellm", "hybridllm", "zooter", "routellm-ft", "hybridllm-ft", "zooter-ft"])
def test_every_learned_baseline_learns_the_complexity_driven_gain(
    name: str, synthetic_table: RatingsTable, pool: EncoderPool, spec: str
) -> None:
    """On unseen prompts (k-fold), "three red dogs next to two cats …" must rank above "a dog …"."""
    candidate = learned(spec, pool)[name]()
    result = evaluate_pair(
        synthetic_table,
        PairSpec.parse("synth-a/light:heavy"),
        "kfold",
        [candidate],
        EvaluationSettings(folds=4, n_boot=0),
    )
    assert result.candidates[0].views["aggregate"].summary.apgr > 0.7
    assert all(record["rows"] for record in result.candidates[0].training)


@pytest.mark.parametrize("kind", ["routellm", "zooter"])
def test_probabilities_stay_in_range(kind: str, synthetic_table: RatingsTable, pool: EncoderPool, spec: str) -> None:
    train = training(synthetic_table)
    for candidate in (learned(spec, pool)[kind](), learned(spec, pool)[f"{kind}-ft"]()):
        candidate.fit(train)
        scores = candidate.score(train.pairs[0])
        assert scores.shape == (len(train.pairs[0]),) and ((scores > 0) & (scores < 1)).all()


def test_the_gap_regressor_predicts_in_quality_units(
    synthetic_table: RatingsTable, pool: EncoderPool, spec: str
) -> None:
    train = training(synthetic_table)
    target = quality_gap(train)
    candidate = learned(spec, pool)["hybridllm-ft"]()
    candidate.fit(train)
    predicted = candidate.score(train.pairs[0])
    # trained on the standardised gap, answered in the gap's own units (about +2.3 and -0.5 here)
    complex_ = np.array([p.startswith("three") for p in train.pairs[0].prompts])
    wanted = np.array([p.startswith("three") for p in target.prompts])
    for group, group_target in ((complex_, wanted), (~complex_, ~wanted)):
        assert predicted[group].mean() == pytest.approx(target.values[group_target].mean(), abs=0.3)


def test_the_targets_average_pooled_repeats_of_a_prompt(synthetic_table: RatingsTable) -> None:
    pair = build_pair(synthetic_table, PairSpec.parse("synth-a/light:heavy"), normalise="zscore")
    once, twice = TrainingData(pairs=[pair]), TrainingData(pairs=[pair, pair])
    for target in (cloud_wins, quality_gap, tier_rewards):
        a, b = target(once), target(twice)
        assert a.prompts == b.prompts and len(a.prompts) == len(set(pair.prompts))
        np.testing.assert_allclose(a.values, b.values)
    rewards = tier_rewards(once).values
    np.testing.assert_allclose(rewards.sum(axis=1), 1.0)
    assert set(np.unique(cloud_wins(once).values)) <= {0.0, 1.0}


def test_fine_tuning_trains_a_copy_and_leaves_the_shared_encoder_alone(
    synthetic_table: RatingsTable, pool: EncoderPool, spec: str
) -> None:
    shared = pool.get(spec).inner.model  # type: ignore[attr-defined]
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    candidate = FineTunedCandidate(name="routellm-ft", kind="routellm", spec=spec, pool=pool, settings=FAST)
    candidate.fit(training(synthetic_table))
    after = shared.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not shared.training and not any(p.requires_grad for p in shared.parameters())
    tuned = candidate._router.model.state_dict()  # type: ignore[union-attr]
    assert any(not torch.equal(before[k], tuned[k]) for k in before if before[k].is_floating_point())
    record = candidate.training_record()
    assert record["validation_prompts"] and 1 <= int(record["best_epoch"]) <= FAST.epochs  # type: ignore[call-overload]


def test_the_factory_builds_the_fine_tuned_ones_by_name_but_not_under_baselines(
    synthetic_table: RatingsTable, spec: str
) -> None:
    factory = CandidateFactory(synthetic_table, embedding_encoder=spec)
    built = factory.build("zooter-ft")
    assert isinstance(built, FineTunedCandidate) and built.kind == "zooter" and built.spec == spec
    assert built.pool is factory.pool
    assert "zooter-ft" not in factory.expand(["baselines"]) and len(BASELINES) == 9
