"""``routet2i serve``'s app: the gateway with both workers in its own process (no sockets)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routet2i.config import validate_or_explain
from routet2i.gateway.embedded import create_embedded_app
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.workers.settings import WorkerSettings
from tests.gateway.conftest import gateway_settings, tiny_worker_config

pytestmark = pytest.mark.slow


def test_embedded_gateway_serves_both_tiers_in_process(tiny_router_dir: Path, tiny_sd_dir: Path) -> None:
    workers = {
        tier: validate_or_explain(WorkerSettings, tiny_worker_config(tiny_sd_dir, f"tiny-{tier}"), "test")
        for tier in ("edge", "cloud")
    }
    settings = gateway_settings(
        limits={"min_size": 32, "default_width": 64, "default_height": 64},
        health={"interval_s": 0.1, "timeout_s": 2},
    )
    app = create_embedded_app(settings, CheckpointPredictor(tiny_router_dir, device="cpu"), workers)
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            tiers = client.get("/readyz").json()["tiers"]
            if all(t["state"] == "closed" and t["checked"] for t in tiers.values()):
                break
            time.sleep(0.1)
        for tier in ("edge", "cloud"):
            r = client.post("/generate", json={"prompt": "a red fox", "route": tier, "seed": 3})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["model"] == f"tiny-{tier}" and body["routing"]["tier"] == tier
            assert base64.b64decode(body["images"][0]["b64_png"]).startswith(b"\x89PNG")
        too_many_steps = client.post("/generate", json={"prompt": "a fox", "route": "edge", "steps": 9})
        assert too_many_steps.status_code == 422 and too_many_steps.json()["error"]["field"] == "steps"
