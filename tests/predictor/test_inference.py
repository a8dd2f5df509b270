"""The checkpoint predictor the gateway uses: predictions (and the routing rule's tiers) from a real (tiny)
checkpoint and encoder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from routet2i.cli import main
from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor.checkpoint import default_checkpoint_dir, read_meta
from routet2i.predictor.inference import CheckpointPredictor, resolve_checkpoint
from routet2i.predictor.pipeline import train_predictor
from routet2i.predictor.settings import TrainingSettings
from routet2i.ratings.pairs import PairSpec
from routet2i.routing.rule import choose_tier
from routet2i.routing.tiers import Tiers
from routet2i.testing.text_encoders import save_tiny_bert
from routet2i.testing.tiny_router import uncalibrated_copy
from routet2i.types import Prediction
from tests.predictor.keyword_data import keyword_prompts, keyword_ratings
from tests.torch_threads import one_torch_thread

PROMPTS = [*keyword_prompts(12, seed=42), "", "a zebra " * 100]


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bert = save_tiny_bert(tmp_path_factory.mktemp("bert"))
    settings = TrainingSettings.load(
        None,
        encoder=f"hf:{bert}",
        optimisation={"epochs": 3, "lr": 1e-2, "batch_size": 16, "seed": 0},
        calibration={"budgets": [0.2, 0.4]},
    )
    out = tmp_path_factory.mktemp("ck") / "router"
    train_predictor(keyword_ratings(80), [PairSpec.parse("synthetic/edge-model:cloud-model")], settings, out)
    return out


@pytest.fixture(scope="module")
def router(checkpoint: Path) -> CheckpointPredictor:
    return CheckpointPredictor(checkpoint, batch_size=4)


def test_decisions_follow_the_threshold(router: CheckpointPredictor) -> None:
    predictions = router.predict(PROMPTS)
    assert len(predictions) == len(PROMPTS)
    for d in predictions:
        assert isinstance(d, Prediction)
        assert 0.0 < d.prs < 1.0
        assert list(d.metrics) == ["alignment", "quality"]
        assert d.prs == pytest.approx(np.mean(list(d.metrics.values())))
        assert choose_tier(d.prs, 0.45, Tiers()) == ("cloud" if d.prs < 0.45 else "edge", "predicted")
    assert router.predict([]) == []


def test_route_command_prints_the_decision_fields(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["route", "--checkpoint", str(checkpoint), PROMPTS[0]]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert set(line) == {"prompt", "prs", "metrics", "tier", "threshold"}
    assert line["threshold"] == 0.5  # no budget: cloud iff better
    assert line["tier"] == ("cloud" if line["prs"] < 0.5 else "edge")


def test_batch_equals_one_by_one_and_other_threads(router: CheckpointPredictor) -> None:
    batch = [d.prs for d in router.predict(PROMPTS)]
    alone = [router.predict([p])[0].prs for p in PROMPTS]
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    with ThreadPoolExecutor(max_workers=1) as worker:
        from_worker = worker.submit(router.predict, PROMPTS).result()
    np.testing.assert_allclose([d.prs for d in from_worker], batch, atol=1e-6)


def test_threshold_for_budget_from_calibration(router: CheckpointPredictor, checkpoint: Path) -> None:
    cal = read_meta(checkpoint).calibration
    assert cal is not None
    assert router.threshold_for_budget(0.2) == cal["thresholds"]["0.2"]
    values = [router.threshold_for_budget(b) for b in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert values == sorted(values) and max(values) <= 0.5 and values[-1] == 0.5


def test_uncalibrated_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    copy = uncalibrated_copy(checkpoint, tmp_path / "uncal")
    r = CheckpointPredictor(copy, encoder=CheckpointPredictor(checkpoint).encoder)
    with pytest.raises(CheckpointError, match="not calibrated"):
        r.threshold_for_budget(0.3)


def test_encoder_must_match_the_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    other = save_tiny_bert(tmp_path / "other-bert", seed=1)
    from routet2i.encoders.loading import load_encoder

    with pytest.raises(CheckpointError, match="trained on encoder"):
        CheckpointPredictor(checkpoint, encoder=load_encoder(f"hf:{other}"))


def test_default_checkpoint_is_missing_with_a_clear_error() -> None:
    if (default_checkpoint_dir() / "config.json").is_file():
        assert resolve_checkpoint(None) == default_checkpoint_dir()
        return
    with pytest.raises(CheckpointError, match="no packaged default router"):
        CheckpointPredictor(None)


def test_metric_weights_recompute_prs_from_the_predicted_d(router: CheckpointPredictor, checkpoint: Path) -> None:
    base = router.predict(PROMPTS)
    align = CheckpointPredictor(checkpoint, encoder=router.encoder, metric_weights={"alignment": 1})
    mixed = CheckpointPredictor(checkpoint, encoder=router.encoder, metric_weights={"alignment": 3, "quality": 1})
    assert align.metric_weights == {"alignment": 1.0, "quality": 0.0}
    for b, a, m in zip(base, align.predict(PROMPTS), mixed.predict(PROMPTS), strict=True):
        assert a.metrics == pytest.approx(b.metrics, abs=1e-6)  # D̂ does not depend on the weights
        assert a.prs == pytest.approx(b.metrics["alignment"], abs=1e-6)
        assert m.prs == pytest.approx(0.75 * b.metrics["alignment"] + 0.25 * b.metrics["quality"], abs=1e-6)
    # the checkpoint's own weights, spelled out: same PRŜ, calibration still applies
    own = CheckpointPredictor(checkpoint, encoder=router.encoder, metric_weights={"alignment": 1, "quality": 1})
    assert own.calibration == router.calibration and own.calibration_note is None
    assert own.threshold_for_budget(0.2) == router.threshold_for_budget(0.2)


def test_a_calibration_applies_only_to_the_weights_it_was_made_with(
    router: CheckpointPredictor, checkpoint: Path
) -> None:
    align = CheckpointPredictor(checkpoint, encoder=router.encoder, metric_weights={"alignment": 1})
    assert align.calibration is None
    assert align.calibration_note is not None and "alignment=0.5, quality=0.5" in align.calibration_note
    with pytest.raises(CheckpointError, match="not calibrated for these metric weights") as err:
        align.threshold_for_budget(0.3)
    assert "--weights alignment=1,quality=0" in str(err.value)


@pytest.mark.parametrize(
    ("weights", "message"),
    [({"sharpness": 1.0}, "sharpness"), ({"alignment": -1.0}, "non-negative"), ({"quality": 0.0}, "not all zero")],
)
def test_bad_metric_weights_are_a_config_error_naming_the_metrics(
    router: CheckpointPredictor, checkpoint: Path, weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        CheckpointPredictor(checkpoint, encoder=router.encoder, metric_weights=weights)
    assert "['alignment', 'quality']" in str(err.value)


def test_route_and_calibrate_with_weights_from_the_cli(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    copy = tmp_path / "router"
    shutil.copytree(checkpoint, copy)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS[:12]) + "\n", encoding="utf-8")
    assert main(["route", "--checkpoint", str(copy), "--weights", "alignment=1", "--budget", "0.3", "a prompt"]) != 0
    assert "not calibrated for these metric weights" in capsys.readouterr().err
    cmd = ["calibrate", "--checkpoint", str(copy), "--prompts", str(prompts), "--budget", "0.25"]
    assert main([*cmd, "--weights", "alignment=1"]) == 0
    assert read_meta(copy).calibration["metric_weights"] == {"alignment": 1.0, "quality": 0.0}
    capsys.readouterr()
    assert main(["route", "--checkpoint", str(copy), "--weights", "alignment=1", "--budget", "0.25", *PROMPTS[:4]]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["prs"] for x in lines] == pytest.approx([x["metrics"]["alignment"] for x in lines], abs=1e-6)
    assert lines[0]["threshold"] == read_meta(copy).calibration["thresholds"]["0.25"]
    # the checkpoint's own weights no longer match the stored calibration
    assert main(["route", "--checkpoint", str(copy), "--budget", "0.25", "a prompt"]) != 0
    assert "not calibrated for these metric weights" in capsys.readouterr().err
    assert main(["route", "--checkpoint", str(copy), "--weights", "alignment", "a prompt"]) != 0
    assert "--weights: expected NAME=NUMBER" in capsys.readouterr().err
