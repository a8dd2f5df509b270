"""Gateways on the shared budget store (``budget.store: redis``): one budget for two apps, and
what a client sees while Redis is away (never a 5xx for what the edge can serve)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app
from routet2i.testing.redis_server import RedisServer
from tests.gateway.conftest import gateway_settings
from tests.gateway.doubles import FakeEngine, FakeWorker


def shared_budget(url: str, prefix: str, **policy: Any) -> dict[str, Any]:
    return {
        "cloud_share": 0.5,
        "window": 100,
        "warmup": 1000,
        **policy,
        "store": "redis",
        "redis_url": url,
        "key_prefix": prefix,
        "redis_retry_s": 0.2,
    }


def gateway(budget: dict[str, Any]) -> TestClient:
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    app = create_app(
        gateway_settings(budget=budget), engine=FakeEngine(), workers={"edge": edge.client(), "cloud": cloud.client()}
    )
    return TestClient(app)


def test_two_gateways_keep_one_budget(redis_server: RedisServer) -> None:
    budget = shared_budget(redis_server.url, f"gw-{uuid.uuid4().hex[:8]}", cloud_share=0.1, window=10)
    with gateway(budget) as a, gateway(budget) as b:
        tiers = []
        for i in range(10):
            r = (a if i % 2 else b).post("/generate", json={"prompt": "prs=0.01 a red fox"})
            assert r.status_code == 200, r.text
            tiers.append(r.json()["routing"]["tier"])
        assert tiers.count("cloud") == 1  # ⌊0.1 · 10⌋ over both gateways, not one each
        views = [g.get("/v1/budget").json() for g in (a, b)]
        for view in views:
            assert view["store"] == "redis" and view["store_available"]
            assert (view["decisions_total"], view["cloud_in_window"]) == (10, 1)


def test_without_redis_the_edge_serves_and_a_forced_cloud_request_gets_503() -> None:
    server = RedisServer().start()
    try:
        with gateway(shared_budget(server.url, "down")) as gw:
            assert gw.post("/generate", json={"prompt": "prs=0.01 a fox"}).json()["routing"]["tier"] == "cloud"
            server.stop(kill=True)
            r = gw.post("/generate", json={"prompt": "prs=0.01 a fox at dusk"})
            assert r.status_code == 200 and r.json()["routing"]["tier"] == "edge"
            assert r.headers["X-Routet2i-Budget-Cap"] == "store"
            forced = gw.post("/v1/images/generations", json={"prompt": "a fox", "model": "tiny-cloud"})
            assert forced.status_code == 503 and forced.headers["Retry-After"] == "1"
            assert forced.json()["error"]["type"] == "budget_unavailable"
            assert gw.post("/v1/images/generations", json={"prompt": "a fox", "model": "tiny-edge"}).status_code == 200
            metrics = gw.get("/metrics").text
            assert "routet2i_gateway_budget_store_up 0.0" in metrics
            assert gw.get("/v1/budget").json()["store_available"] is False
            server.start()
            time.sleep(0.3)
            back = gw.post("/generate", json={"prompt": "prs=0.01 a fox at dawn"})
            assert back.status_code == 200 and back.json()["routing"]["tier"] == "cloud"
            assert "routet2i_gateway_budget_store_up 1.0" in gw.get("/metrics").text
    finally:
        server.stop()
