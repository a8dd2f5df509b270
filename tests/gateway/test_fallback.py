"""Health, circuit breaking and fallback between tiers, with deadlines."""

from __future__ import annotations

import time
from typing import Any

from tests.gateway.conftest import MakeGateway


def _routing(r: Any) -> dict[str, Any]:
    routing: dict[str, Any] = r.json()["routing"]
    return routing


def test_overloaded_cloud_falls_back_to_the_edge_and_leaves_rotation(make_gateway: MakeGateway) -> None:
    with make_gateway(cloud_mode="overloaded") as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a fox"})
        assert r.status_code == 200
        routing = _routing(r)
        assert (routing["tier"], routing["reason"], routing["wanted_tier"]) == ("edge", "fallback", "cloud")
        assert (routing["fallback_from"], routing["fallback_cause"]) == ("cloud", "overloaded")
        assert r.headers["X-Routet2i-Fallback-From"] == "cloud"
        # the 429's Retry-After (7 s) took the cloud out: the next request does not even try it
        calls = gw.cloud.calls
        r2 = gw.client.post("/generate", json={"prompt": "prs=0.1 another fox"})
        assert _routing(r2)["fallback_cause"] == "unavailable" and gw.cloud.calls == calls
        assert gw.client.get("/readyz").json()["tiers"]["cloud"]["state"] == "open"
        # the cloud image did not happen: it does not count against the budget
        assert gw.client.get("/v1/budget").json()["cloud_in_window"] == 0
        metrics = gw.client.get("/metrics").text
        assert 'routet2i_gateway_fallbacks_total{cause="overloaded",from_tier="cloud",to_tier="edge"} 1.0' in metrics
        assert 'routet2i_gateway_tier_up{tier="cloud"} 0.0' in metrics


def test_a_forced_request_on_an_overloaded_tier_is_429_not_503(make_gateway: MakeGateway) -> None:
    """A 429 takes the tier out for its Retry-After; meanwhile a request that may not fall back
    hears that the tier is busy (429 + Retry-After), not that it is down."""
    with make_gateway(cloud_mode="overloaded") as gw:
        first = gw.client.post("/v1/images/generations", json={"prompt": "a fox", "model": "tiny-cloud"})
        assert first.status_code == 429
        calls = gw.cloud.calls
        second = gw.client.post("/v1/images/generations", json={"prompt": "a fox", "model": "tiny-cloud"})
        assert second.status_code == 429 and second.json()["error"]["type"] == "overloaded"
        assert int(second.headers["Retry-After"]) >= 1 and gw.cloud.calls == calls  # not tried again


def test_edge_down_falls_back_to_the_cloud_only_within_budget(make_gateway: MakeGateway) -> None:
    with make_gateway(edge_mode="down", budget={"cloud_share": 0.02, "window": 100}) as gw:
        first = _routing(gw.client.post("/generate", json={"prompt": "prs=0.9 a"}))
        assert (first["tier"], first["reason"], first["fallback_cause"]) == ("cloud", "fallback", "unavailable")
        gw.client.post("/generate", json={"prompt": "prs=0.9 b"})
        r = gw.client.post("/generate", json={"prompt": "prs=0.9 c"})  # budget spent: no more cloud
        assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"
        assert int(r.headers["Retry-After"]) >= 1 and r.json()["routing"]["tier"] == "edge"
        assert gw.client.get("/v1/budget").json()["cloud_in_window"] == 2


def test_both_tiers_down_is_a_clear_503(make_gateway: MakeGateway) -> None:
    with make_gateway(edge_mode="down", cloud_mode="unavailable") as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a"})
        assert r.status_code == 503 and "Retry-After" in r.headers
        err = r.json()["error"]
        assert err["type"] == "unavailable" and "unavailable" in err["message"]
        assert gw.client.get("/readyz").status_code == 503


def test_forced_requests_do_not_fall_back(make_gateway: MakeGateway) -> None:
    with make_gateway(cloud_mode="timeout") as gw:
        r = gw.client.post("/generate", json={"prompt": "a", "route": "cloud"})
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"
        assert gw.edge.calls == 0


def test_worker_refusal_is_the_users_4xx_and_no_fallback(make_gateway: MakeGateway) -> None:
    with make_gateway(cloud_mode="invalid") as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a", "steps": 90})
        assert r.status_code == 422 and r.json()["error"]["field"] == "steps"
        assert gw.edge.calls == 0
        assert gw.client.get("/readyz").json()["tiers"]["cloud"]["state"] == "closed"


def test_no_request_waits_past_its_deadline(make_gateway: MakeGateway) -> None:
    with make_gateway(edge_mode="hang", cloud_mode="hang", limits={"request_timeout_s": 0.4}) as gw:
        t0 = time.perf_counter()
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a"})
        elapsed = time.perf_counter() - t0
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"
        assert elapsed < 2.0
        # the worker was told how long it had
        assert float(gw.cloud.requests[0]["timeout"]) <= 0.4


def test_a_tier_comes_back_when_its_worker_does(make_gateway: MakeGateway) -> None:
    with make_gateway(edge_mode="down", health={"interval_s": 0.05, "timeout_s": 1, "cooldown_s": 30}) as gw:
        deadline = time.monotonic() + 5
        while gw.service.health.available("edge") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not gw.service.health.available("edge")
        gw.edge.mode = "ok"
        while not gw.service.health.available("edge") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gw.service.health.available("edge")  # long before the 30 s cooldown: the check saw it back
        assert _routing(gw.client.post("/generate", json={"prompt": "prs=0.9 a"}))["reason"] == "predicted"
