"""``routet2i evaluate`` end to end on a tiny table: baselines, embedding baselines and the
predictor on a tiny BERT, the outputs, and the guard against scoring a checkpoint on its own
training prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routet2i.cli import main
from routet2i.evaluation.encoder_memo import EncoderPool
from routet2i.evaluation.predictor_candidates import FrozenCheckpointCandidate
from routet2i.ratings.pairs import PairSpec, build_pair
from routet2i.ratings.table import RatingsTable


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory, synthetic_ratings: Path, tiny_bert_dir: Path, tiny_training_yaml: Path
) -> Path:
    out = tmp_path_factory.mktemp("eval")
    code = main(
        [
            "evaluate",
            "--ratings", str(synthetic_ratings),
            "--pair", "synth-a/light:heavy",
            "--pair", "synth-b/light:heavy",
            "--router", "baselines",
            "--router", f"predictor:{tiny_training_yaml}",
            "--encoder", f"hf:{tiny_bert_dir}",
            "--protocol", "kfold",
            "--protocol", "lodo",
            "--folds", "3",
            "--bootstrap", "30",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    return out


def test_writes_json_markdown_and_plots(evaluated: Path) -> None:
    doc = json.loads((evaluated / "results.json").read_text())
    assert [(r["pair"], r["protocol"]) for r in doc["results"]] == [
        ("synth-a/light:heavy", "kfold"),
        ("synth-b/light:heavy", "kfold"),
        ("synth-a/light:heavy", "lodo"),
        ("synth-b/light:heavy", "lodo"),
    ]
    first = doc["results"][0]
    names = [c["name"] for c in first["candidates"]]
    assert names[:9] == ["random", "all-edge", "all-cloud", "length", "complexity", "oracle", "routellm",
                         "hybridllm", "zooter"]  # fmt: skip
    assert names[9].startswith("predictor:")
    by_name = {c["name"]: c for c in first["candidates"]}
    assert by_name["random"]["views"]["aggregate"]["summary"]["apgr"] == pytest.approx(0.5)
    curve = by_name["oracle"]["views"]["aggregate"]["curve"]
    assert len(curve["shares"]) == len(curve["quality"]) == 101
    # the predictor was retrained on each of the 3 folds, on training prompts only
    assert len(by_name[names[9]]["training"]) == 3
    lodo = doc["results"][2]
    assert lodo["train_pairs"] == ["synth-b/light:heavy"]
    for c in first["candidates"] + lodo["candidates"]:
        s = c["views"]["aggregate"]["summary"]
        assert s["quality_50"] is not None and 0.0 <= s["win_rate_50"] <= 1.0
    report = (evaluated / "report.md").read_text()
    assert "## synth-a/light:heavy — kfold" in report and "| oracle |" in report
    assert "## Summary (aggregate view)" in report
    plots = sorted(evaluated.glob("curve-*.png"))
    assert len(plots) == 4
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots)


def test_a_checkpoint_is_never_scored_on_its_training_prompts(
    evaluated: Path,
    synthetic_ratings: Path,
    tiny_training_yaml: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a checkpoint the evaluation trained (fold 0 of synth-a) names synth-a among its pairs
    checkpoint = next((evaluated / "work").glob("predictor-*-synth-a_light_heavy-kfold-fold0"))
    assert (checkpoint / "config.json").is_file()
    code = main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-a/light:heavy",
                 "--router", f"frozen:{checkpoint}", "--protocol", "none", "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    assert "trained on synth-a/light:heavy" in capsys.readouterr().err
    # --allow-seen-prompts reports it, flagged in the name and the report
    code = main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-a/light:heavy",
                 "--router", f"frozen:{checkpoint}", "--protocol", "none", "--allow-seen-prompts",
                 "--bootstrap", "0", "--no-plot", "--out", str(tmp_path / "y")])  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "y" / "results.json").read_text())
    cand = doc["results"][0]["candidates"][0]
    assert cand["name"].endswith("[SEEN PROMPTS]") and "optimistic" in cand["warnings"][0]
    assert "SEEN PROMPTS" in (tmp_path / "y" / "report.md").read_text()


def test_a_checkpoint_from_another_dataset_may_be_scored_frozen(evaluated: Path, synthetic_table: RatingsTable) -> None:
    checkpoint = next(
        (evaluated / "work").glob("predictor-*-synth-b_light_heavy-lodo-without-synth-b")
    )  # trained on synth-a only
    cand = FrozenCheckpointCandidate(name="frozen", directory=checkpoint, encoders=EncoderPool())
    test = build_pair(synthetic_table, PairSpec.parse("synth-b/light:heavy"))
    cand.prepare(synthetic_table, test)
    scores = cand.score(test)
    assert scores.shape == (len(test),) and not cand.warnings


def test_learned_routers_under_protocol_none_are_refused(
    synthetic_ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-a/light:heavy",
                 "--router", "hybridllm", "--protocol", "none", "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "cannot train hybridllm" in capsys.readouterr().err


def test_a_checkpoint_recipe_is_retrained_on_its_own_pairs_or_the_runs(
    evaluated: Path, synthetic_ratings: Path, tiny_training_yaml: Path, tmp_path: Path
) -> None:
    import yaml

    from routet2i.evaluation.predictor_candidates import settings_from_checkpoint

    checkpoint = next((evaluated / "work").glob("predictor-*-synth-a_light_heavy-kfold-fold0"))
    recipe = settings_from_checkpoint(checkpoint)
    wanted = yaml.safe_load(tiny_training_yaml.read_text())
    assert recipe.encoder == wanted["encoder"]
    assert recipe.architecture.top_k == 4 and recipe.architecture.hidden == 8
    assert recipe.optimisation.epochs == 3 and recipe.split.validation == 0.25
    code = main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-b/light:heavy",
                 "--router", f"checkpoint:{checkpoint}", "--router", f"recipe:{checkpoint}", "--folds", "2",
                 "--bootstrap", "0", "--no-plot", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    cands = json.loads((tmp_path / "results.json").read_text())["results"][0]["candidates"]
    assert cands[0]["train_pairs"] == ["synth-a/light:heavy"]  # the checkpoint's own pair
    assert cands[1]["train_pairs"] == ["synth-b/light:heavy"]  # the run's pool: the evaluated pair
    assert all(len(c["training"]) == 2 for c in cands)


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_the_numbers_are_still_written(
    synthetic_ratings: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "no-mpl"
    code = main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-a/light:heavy",
                 "--router", "random", "--protocol", "none", "--bootstrap", "0", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert json.loads((out / "results.json").read_text())["results"][0]["pair"] == "synth-a/light:heavy"
    assert (out / "report.md").is_file() and not list(out.glob("*.png"))
    assert "curve-" not in (out / "report.md").read_text()
    assert any("matplotlib is not installed" in r.getMessage() for r in caplog.records)


def test_a_failing_plot_loses_no_numbers(
    synthetic_ratings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import routet2i.evaluation.plot as plot

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("the plot broke")

    monkeypatch.setattr(plot, "plot_pair", broken)
    out = tmp_path / "broken-plot"
    with pytest.raises(RuntimeError, match="the plot broke"):
        main(["evaluate", "--ratings", str(synthetic_ratings), "--pair", "synth-a/light:heavy",
              "--router", "random", "--protocol", "none", "--bootstrap", "0", "--out", str(out)])  # fmt: skip
    assert (out / "results.json").is_file() and (out / "report.md").is_file()
