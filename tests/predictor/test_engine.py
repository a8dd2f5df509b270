"""The product's router engine (a tiny checkpoint through the real Router) inside the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.testing.tiny_router import METRICS, REFERENCE_PROMPTS, uncalibrated_copy
from tests.gateway.conftest import gateway_settings
from tests.gateway.doubles import FakeWorker


@pytest.fixture(scope="module")
def engine(tiny_router_dir: Path) -> CheckpointPredictor:
    return CheckpointPredictor(tiny_router_dir, device="auto")


def test_engine_predicts_what_the_router_decides(engine: CheckpointPredictor) -> None:
    preds = engine.predict(REFERENCE_PROMPTS[:5])
    decisions = engine.predict(REFERENCE_PROMPTS[:5])
    assert [p.prs for p in preds] == pytest.approx([d.prs for d in decisions])
    assert all(list(p.metrics) == METRICS and 0 < p.prs < 1 for p in preds)
    assert any(p.prs < 0.5 for p in engine.predict(REFERENCE_PROMPTS)) and any(
        p.prs > 0.5 for p in engine.predict(REFERENCE_PROMPTS)
    )
    assert engine.calibrated_threshold(0.3) == engine.calibration.threshold_for_budget(0.3)  # type: ignore[union-attr]
    info = engine.describe()
    assert info["metrics"] == METRICS and info["calibration"]["n_prompts"] == len(REFERENCE_PROMPTS)
    assert info["encoder"].startswith("hf:") and info["device"] == "cpu"


def test_gateway_routes_with_the_real_router(engine: CheckpointPredictor) -> None:
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    settings = gateway_settings(budget={"cloud_share": 0.3, "window": 100, "warmup": 1000})
    app = create_app(settings, engine=engine, workers={"edge": edge.client(), "cloud": cloud.client()})
    with TestClient(app) as client:
        body = client.post("/v1/route", json={"prompts": REFERENCE_PROMPTS}).json()
        alpha = engine.calibrated_threshold(0.3)
        assert alpha is not None
        for d in body["decisions"]:
            assert d["threshold"] == pytest.approx(alpha) and d["threshold_source"] == "calibration"
            assert d["tier"] == ("cloud" if d["prs"] < alpha else "edge") and set(d["metrics"]) == set(METRICS)
        r = client.post("/generate", json={"prompt": REFERENCE_PROMPTS[0]}).json()
        assert set(r["routing"]["metrics"]) == set(METRICS)
        assert client.get("/v1/models").json()["router"]["metrics"] == METRICS


def test_an_uncalibrated_checkpoint_starts_at_the_ceiling(tiny_router_dir: Path, tmp_path: Path) -> None:
    ckpt = uncalibrated_copy(tiny_router_dir, tmp_path / "uncalibrated")
    engine = CheckpointPredictor(ckpt, device="cpu")
    assert engine.calibrated_threshold(0.3) is None
    app = create_app(
        gateway_settings(), engine=engine, workers={"edge": FakeWorker("e").client(), "cloud": FakeWorker("c").client()}
    )
    with TestClient(app) as client:
        d = client.post("/v1/route", json={"prompt": "a red fox"}).json()["decisions"][0]
        assert (d["threshold"], d["threshold_source"]) == (0.5, "ceiling")


def test_router_metric_weights_from_the_gateway_settings(
    tiny_router_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from routet2i.gateway.loading import product_loader

    settings = gateway_settings(router={"device": "cpu", "metric_weights": {METRICS[0]: 1.0}})
    with caplog.at_level("WARNING", logger="routet2i.gateway"):
        engine = product_loader(settings)(tiny_router_dir)
    assert engine.describe()["metric_weights"] == {METRICS[0]: 1.0, METRICS[1]: 0.0}
    preds = engine.predict(REFERENCE_PROMPTS[:5])
    assert [p.prs for p in preds] == pytest.approx([p.metrics[METRICS[0]] for p in preds])
    # the shipped calibration was made with the checkpoint's weights: the live threshold takes over
    assert engine.calibrated_threshold(0.3) is None
    assert "no calibration for these metric weights" in caplog.text
