"""The evaluation run on synthetic ratings: known answers, no leak, degenerate gaps, LODO."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from routet2i.errors import DataError
from routet2i.evaluation.baselines import (
    ComplexityCandidate,
    LengthCandidate,
    OracleCandidate,
    RandomCandidate,
    all_cloud,
    all_edge,
)
from routet2i.evaluation.candidates import Candidate, TrainingData
from routet2i.evaluation.harness import EvaluationSettings, evaluate_pair
from routet2i.evaluation.report import markdown_report, results_json
from routet2i.prompt_ids import prompt_key
from routet2i.ratings.pairs import PairData, PairSpec
from routet2i.ratings.table import RatingsTable
from routet2i.superiority import FloatArray

SETTINGS = EvaluationSettings(folds=4, n_boot=50)


@dataclass
class SpyCandidate(Candidate):
    """Learns the mean gain per first word, and checks it never trains on a prompt it scores."""

    name: str = "spy"
    learns: bool = True
    trained_on: list[set[str]] = field(default_factory=list)
    datasets: list[set[str]] = field(default_factory=list)
    _means: dict[str, float] = field(default_factory=dict)

    def fit(self, train: TrainingData) -> None:
        self.trained_on.append({prompt_key(p) for p in train.prompts()})
        self.datasets.append({d for p in train.pairs for d in p.datasets})
        gain = train.gain()
        firsts = [p.split()[0] for p in train.prompts()]
        self._means = {
            w: float(np.nanmean([g for g, f in zip(gain, firsts, strict=True) if f == w])) for w in set(firsts)
        }

    def score(self, test: PairData) -> FloatArray:
        keys = {prompt_key(p) for p in test.prompts}
        assert not keys & self.trained_on[-1], "trained on a test prompt"
        return np.asarray([self._means.get(p.split()[0], 0.0) for p in test.prompts])


def baselines() -> list[Candidate]:
    return [RandomCandidate(), all_edge(), all_cloud(), LengthCandidate(), ComplexityCandidate(), OracleCandidate()]


def apgr_of(result, name: str, view: str = "aggregate") -> float | None:  # type: ignore[no-untyped-def]
    return next(c for c in result.candidates if c.name == name).views[view].summary.apgr


def test_known_answers_on_a_complexity_driven_pair(synthetic_table: RatingsTable) -> None:
    spec = PairSpec.parse("synth-a/light:heavy")
    result = evaluate_pair(synthetic_table, spec, "kfold", baselines(), SETTINGS)
    assert [v.name for v in result.views] == ["aggregate", "alignment", "quality"]
    assert all(v.meaningful for v in result.views)
    assert apgr_of(result, "random") == pytest.approx(0.5)
    # complex prompts are exactly the ones the cloud wins: the heuristic is near the oracle
    assert apgr_of(result, "oracle") >= apgr_of(result, "complexity") > 0.7
    edge = next(c for c in result.candidates if c.name == "all-edge").views["aggregate"]
    info = result.views[0]
    assert edge.summary.mean_quality == pytest.approx(info.q_edge)
    assert edge.summary.apgr is None
    oracle = next(c for c in result.candidates if c.name == "oracle").views["aggregate"]
    assert oracle.apgr_ci is not None and oracle.apgr_ci[0] <= oracle.summary.apgr <= oracle.apgr_ci[1]


@pytest.mark.parametrize("protocol", ["kfold", "lodo"])
def test_a_learning_router_never_sees_its_test_prompts(synthetic_table: RatingsTable, protocol: str) -> None:
    spy = SpyCandidate()
    specs = [PairSpec.parse("synth-a/light:heavy"), PairSpec.parse("synth-b/light:heavy")]
    result = evaluate_pair(synthetic_table, specs[0], protocol, [spy, RandomCandidate()], SETTINGS, evaluated=specs)
    assert len(spy.trained_on) == (4 if protocol == "kfold" else 1)
    if protocol == "lodo":
        assert spy.datasets == [{"synth-b"}]
        assert result.candidates[0].train_pairs == ["synth-b/light:heavy"]
    else:
        assert all(ds == {"synth-a"} for ds in spy.datasets)
    # the spy learned "three …" → cloud, "a …" → edge: it works on unseen prompts too
    assert apgr_of(result, "spy") > 0.7
    assert [r["train_rows"] for r in result.candidates[0].training]  # recorded per split


def test_lodo_without_another_dataset_is_an_error(synthetic_table: RatingsTable) -> None:
    spec = PairSpec.parse("synth-a/light:heavy")
    with pytest.raises(DataError, match="outside synth-a"):
        evaluate_pair(synthetic_table, spec, "lodo", [SpyCandidate()], SETTINGS, evaluated=[spec])


def test_a_gap_of_noise_reports_quality_and_win_rates_not_pgr(synthetic_table: RatingsTable) -> None:
    result = evaluate_pair(synthetic_table, PairSpec.parse("synth-a/light:twin"), "kfold", baselines(), SETTINGS)
    assert not result.views[0].meaningful
    oracle = next(c for c in result.candidates if c.name == "oracle").views["aggregate"]
    assert oracle.summary.apgr is None and oracle.summary.pgr_50 is None and oracle.apgr_ci is None
    assert oracle.summary.quality_50 > result.views[0].q_edge  # the oracle still helps in absolute terms
    assert 0.0 <= oracle.summary.win_rate_50 <= 1.0
    text = markdown_report([result], {})
    assert "not clearly better" in text and "n/m" in text
    doc = results_json([result])
    assert doc["results"][0]["candidates"][0]["views"]["aggregate"]["summary"]["apgr"] is None
