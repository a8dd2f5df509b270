"""One contract battery for the routing core's predictor port (:class:`~routet2i.routing.ports.PredictorPort`):
the fake the gateway's tests use and the product's checkpoint predictor must both pass it."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from routet2i.routing.ports import PredictorPort
from routet2i.types import MAX_THRESHOLD, Prediction
from tests.gateway.doubles import FakeEngine

PROMPTS = ["a red fox", "two cats on a blue sofa next to a lamp", "x", "an astronaut riding a horse " * 8]


@pytest.fixture(params=["fake", "checkpoint"], scope="module")
def port(request: pytest.FixtureRequest, tiny_router_dir: Path) -> PredictorPort:
    if request.param == "fake":
        return FakeEngine()
    from routet2i.predictor.inference import CheckpointPredictor

    return CheckpointPredictor(tiny_router_dir, device="cpu", batch_size=2)


def test_one_prediction_per_prompt_in_order(port: PredictorPort) -> None:
    predictions = port.predict(PROMPTS)
    assert len(predictions) == len(PROMPTS) and all(isinstance(p, Prediction) for p in predictions)
    for p in predictions:
        assert isinstance(p.prs, float) and math.isfinite(p.prs) and 0.0 <= p.prs <= 1.0
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in p.metrics.items())
    assert port.predict([]) == []
    assert [p.prs for p in port.predict(PROMPTS[::-1])] == pytest.approx([p.prs for p in predictions][::-1], abs=1e-5)


def test_batching_and_threads_do_not_change_a_prediction(port: PredictorPort) -> None:
    batch = [p.prs for p in port.predict(PROMPTS)]
    alone = [port.predict([prompt])[0].prs for prompt in PROMPTS]
    assert alone == pytest.approx(batch, abs=1e-5)
    with ThreadPoolExecutor(max_workers=1) as thread:  # the gateway calls it from its router thread
        assert [p.prs for p in thread.submit(port.predict, PROMPTS).result()] == pytest.approx(batch, abs=1e-6)


def test_calibrated_threshold_is_absent_or_a_nondecreasing_alpha_at_most_half(port: PredictorPort) -> None:
    values = [port.calibrated_threshold(rho) for rho in (0.0, 0.1, 0.3, 0.6, 1.0)]
    if all(v is None for v in values):
        return
    assert all(v is not None for v in values)
    alphas = [float(v) for v in values if v is not None]
    assert alphas == sorted(alphas) and max(alphas) <= MAX_THRESHOLD


def test_describe_is_json_with_the_checkpoint(port: PredictorPort) -> None:
    info = port.describe()
    assert "checkpoint" in info
    json.dumps(info)
