"""The gateway's HTTP API over a fake router and MockTransport workers."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.gateway.conftest import MakeGateway
from tests.gateway.doubles import FakeEngine

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_generate_returns_images_and_the_decision(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a red fox", "seed": 7, "n": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [img["seed"] for img in body["images"]] == [7, 8]
        assert base64.b64decode(body["images"][0]["b64_png"]).startswith(PNG_MAGIC)
        routing = body["routing"]
        assert routing["tier"] == "cloud" and routing["reason"] == "predicted" and routing["model"] == "tiny-cloud"
        assert routing["prs"] == 0.1 and routing["metrics"] == {"definition": 0.1, "detail": 0.2}
        assert routing["threshold"] == 0.5 and routing["router_ms"] > 0
        assert routing["budget"]["cloud_share"] == 0.5 and routing["budget"]["realised_cloud_share"] == 1.0
        assert body["model"] == "tiny-cloud" and body["timings"]["total_ms"] >= body["timings"]["router_ms"]
        assert r.headers["X-Routet2i-Tier"] == "cloud" and r.headers["X-Routet2i-PRS"] == "0.100000"
        assert json.loads(r.headers["X-Routet2i-Metrics"]) == {"definition": 0.1, "detail": 0.2}
        # the worker got the gateway's default size and the caller's seed
        assert gw.cloud.requests[0]["width"] == 512 and gw.cloud.requests[0]["seed"] == 7
        edge = gw.client.post("/generate", json={"prompt": "prs=0.7 a bowl of fruit"}).json()
        assert edge["routing"]["tier"] == "edge" and edge["routing"]["reason"] == "predicted"


def test_png_download_carries_the_decision_in_headers(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        r = gw.client.post(
            "/generate",
            json={"prompt": "prs=0.8 a lighthouse", "seed": 3},
            headers={"Accept": "image/png", "X-Request-ID": "req-42"},
        )
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content.startswith(PNG_MAGIC)
        assert r.headers["X-Routet2i-Tier"] == "edge" and r.headers["X-Routet2i-Reason"] == "predicted"
        assert r.headers["X-Routet2i-Seed"] == "3" and r.headers["X-Request-ID"] == "req-42"
        many = gw.client.post("/generate", json={"prompt": "a lighthouse", "n": 2}, headers={"Accept": "image/png"})
        assert many.status_code == 422 and many.json()["error"]["field"] == "n"
        # curl's default Accept: */* gets JSON
        assert gw.client.post("/generate", json={"prompt": "x"}, headers={"Accept": "*/*"}).json()["images"]


def test_forcing_a_tier(make_gateway: MakeGateway) -> None:
    with make_gateway(routing={"allow_forced": ["edge"]}) as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a cat", "route": "edge"})
        routing = r.json()["routing"]
        assert (routing["tier"], routing["reason"], routing["forced"]) == ("edge", "forced", True)
        denied = gw.client.post("/generate", json={"prompt": "a cat", "route": "cloud"})
        assert denied.status_code == 403 and denied.json()["error"]["field"] == "route"


def _error(r: Any) -> dict[str, Any]:
    err: dict[str, Any] = r.json()["error"]
    return err


def test_user_mistakes_are_4xx_naming_the_field(make_gateway: MakeGateway) -> None:
    with make_gateway(limits={"max_prompt_chars": 50, "max_n": 2, "max_body_bytes": 2048}) as gw:
        post = gw.client.post
        cases = [
            ({}, 422, "prompt"),
            ({"prompt": "  "}, 422, "prompt"),
            ({"prompt": "x" * 51}, 422, "prompt"),
            ({"prompt": "a", "width": 513}, 422, "width"),
            ({"prompt": "a", "height": 4096}, 422, "height"),
            ({"prompt": "a", "n": 3}, 422, "n"),
            ({"prompt": "a", "steps": 0}, 422, "steps"),
            ({"prompt": "a", "seed": -1}, 422, "seed"),
            ({"prompt": "a", "route": "gpu"}, 422, "route"),
            ({"prompt": "a", "colour": "red"}, 422, "colour"),
            ({"prompt": "a", "width": "wide"}, 422, "width"),
        ]
        for body, status, field in cases:
            r = post("/generate", json=body)
            assert r.status_code == status, (body, r.text)
            err = _error(r)
            assert err["field"] == field and err["type"] == "invalid_request" and err["message"], body
        bad_json = post("/generate", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 400 and _error(bad_json)["field"] == "body"
        big = post(
            "/generate", content=b'{"prompt": "' + b"a" * 4000 + b'"}', headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413 and _error(big)["type"] == "payload_too_large"

        def chunks() -> Any:
            yield b'{"prompt": "'
            for _ in range(10):
                yield b"a" * 500
            yield b'"}'

        streamed = post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert gw.edge.calls == gw.cloud.calls == 0
        assert post("/nope", json={}).status_code == 404


def test_api_keys(make_gateway: MakeGateway) -> None:
    with make_gateway(security={"api_keys": ["k-one", "k-two"]}) as gw:
        assert gw.client.post("/generate", json={"prompt": "a"}).status_code == 401
        wrong = gw.client.post("/generate", json={"prompt": "a"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and _error(wrong)["type"] == "unauthorized"
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
        assert (
            gw.client.post("/generate", json={"prompt": "a"}, headers={"Authorization": "Bearer k-two"}).status_code
            == 200
        )
        assert gw.client.post("/v1/route", json={"prompt": "a"}, headers={"X-API-Key": "k-one"}).status_code == 200
        assert gw.client.get("/v1/budget").status_code == 401
        assert gw.client.get("/healthz").status_code == 200
        assert gw.client.get("/metrics").status_code == 200
        assert "k-one" not in repr(gw.settings)


def test_openai_images_endpoint(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        r = gw.client.post("/v1/images/generations", json={"prompt": "prs=0.2 a fox", "size": "256x256", "n": 1})
        assert r.status_code == 200, r.text
        body = r.json()
        assert base64.b64decode(body["data"][0]["b64_json"]).startswith(PNG_MAGIC)
        assert body["size"] == "256x256" and body["routet2i"]["tier"] == "cloud"
        assert gw.cloud.requests[-1]["width"] == 256
        forced = gw.client.post("/v1/images/generations", json={"prompt": "prs=0.2 a fox", "model": "tiny-edge"})
        assert forced.json()["routet2i"]["tier"] == "edge" and forced.json()["routet2i"]["reason"] == "forced"
        for body_in, field in [
            ({"prompt": "a", "response_format": "url"}, "response_format"),
            ({"prompt": "a", "size": "big"}, "size"),
            ({"prompt": "a", "model": "dall-e-3"}, "model"),
            ({"prompt": "a", "stream": True}, "stream"),
        ]:
            r = gw.client.post("/v1/images/generations", json=body_in)
            assert r.status_code == 400 and _error(r)["param"] == field, r.text
        assert (
            "b64_json"
            in _error(gw.client.post("/v1/images/generations", json={"prompt": "a", "response_format": "url"}))[
                "message"
            ]
        )
        too_big = gw.client.post("/v1/images/generations", json={"prompt": "a", "size": "4096x4096"})
        assert too_big.status_code == 422 and _error(too_big)["field"] == "size"


def test_route_endpoint_decides_without_spending(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        one = gw.client.post("/v1/route", json={"prompt": "prs=0.3 a castle"}).json()
        assert one["decisions"][0]["tier"] == "cloud" and one["decisions"][0]["prs"] == 0.3
        batch = gw.client.post("/v1/route", json={"prompts": ["prs=0.9 a", "prs=0.1 b", "c"]}).json()
        assert [d["tier"] for d in batch["decisions"][:2]] == ["edge", "cloud"]
        assert len(batch["decisions"]) == 3 and batch["budget"]["decisions_total"] == 0
        assert gw.client.post("/v1/route", json={"prompts": []}).status_code == 422
        both = gw.client.post("/v1/route", json={"prompt": "a", "prompts": ["b"]})
        assert both.status_code == 422
        assert _error(gw.client.post("/v1/route", json={"prompts": ["ok", " "]}))["field"] == "prompts.1"
        assert gw.edge.calls == gw.cloud.calls == 0


def test_budget_endpoint_and_operator_adjustment(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        assert gw.client.put("/v1/budget", json={"cloud_share": 0.1}).status_code == 403
    with make_gateway(security={"admin_key": "op-secret"}) as gw:
        state = gw.client.get("/v1/budget").json()
        assert state["cloud_share"] == 0.5 and state["window"] == 100 and state["prices"]["cloud"]["per_image"] == 0.02
        assert gw.client.put("/v1/budget", json={"cloud_share": 0.1}, headers={"X-Admin-Key": "bad"}).status_code == 401
        r = gw.client.put(
            "/v1/budget", json={"cloud_share": 0.1, "money_per_period": 5}, headers={"X-Admin-Key": "op-secret"}
        )
        assert r.status_code == 200 and r.json()["cloud_share"] == 0.1 and r.json()["money_per_period"] == 5
        bad = gw.client.put("/v1/budget", json={"cloud_share": 2}, headers={"X-Admin-Key": "op-secret"})
        assert bad.status_code == 422 and _error(bad)["field"] == "cloud_share"
        null = gw.client.put("/v1/budget", json={"window": None}, headers={"X-Admin-Key": "op-secret"})
        assert null.status_code == 422 and _error(null)["field"] == "window"
        off = gw.client.put("/v1/budget", json={"cloud_share": None}, headers={"Authorization": "Bearer op-secret"})
        assert off.json()["cloud_share"] is None and gw.service.budget.policy.money_per_period == 5


def test_forced_cloud_counts_against_the_budget_and_is_refused_when_spent(make_gateway: MakeGateway) -> None:
    with make_gateway(budget={"cloud_share": 0.01, "window": 100}) as gw:
        ok = gw.client.post("/generate", json={"prompt": "prs=0.9 a", "route": "cloud"})
        assert ok.json()["routing"]["tier"] == "cloud"
        r = gw.client.post("/generate", json={"prompt": "prs=0.9 b", "route": "cloud"})
        assert r.status_code == 429 and _error(r)["type"] == "budget_exhausted" and "Retry-After" in r.headers
        assert r.json()["routing"]["reason"] == "budget_cap"
        capped = gw.client.post("/generate", json={"prompt": "prs=0.0 c"}).json()["routing"]
        assert (capped["tier"], capped["reason"], capped["wanted_tier"]) == ("edge", "budget_cap", "cloud")
        assert capped["budget"]["cap"] == "share"
        assert gw.client.get("/v1/budget").json()["cloud_in_window"] == 1


def test_models_health_ready_metrics(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        ids = [m["id"] for m in gw.client.get("/v1/models").json()["data"]]
        assert ids == ["auto", "edge", "tiny-edge", "cloud", "tiny-cloud"]
        assert gw.client.get("/healthz").json() == {"status": "ok"}
        ready = gw.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["tiers"]["cloud"]["state"] == "closed"
        gw.client.post("/generate", json={"prompt": "prs=0.1 a"})
        gw.client.post("/generate", json={"prompt": ""})
        text = gw.client.get("/metrics").text
        assert 'routet2i_gateway_requests_total{endpoint="generate",status="422",tier="none"} 1.0' in text
        assert 'routet2i_gateway_requests_total{endpoint="generate",status="200",tier="cloud"} 1.0' in text
        assert "routet2i_gateway_router_latency_seconds_count 1.0" in text
        assert "routet2i_gateway_cloud_share_realised 1.0" in text
        assert 'routet2i_gateway_decisions_total{reason="predicted",tier="cloud"} 1.0' in text


def test_router_failure_sends_to_the_edge(make_gateway: MakeGateway) -> None:
    with make_gateway(engine=FakeEngine(fail=True)) as gw:
        r = gw.client.post("/generate", json={"prompt": "prs=0.1 a"})
        assert r.status_code == 200
        routing = r.json()["routing"]
        assert (routing["tier"], routing["reason"], routing["prs"]) == ("edge", "no_prediction", None)
        assert "routet2i_gateway_router_errors_total 1.0" in gw.client.get("/metrics").text


def test_request_id_is_generated_when_missing_or_unsafe(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        rid = gw.client.get("/healthz").headers["X-Request-ID"]
        assert len(rid) == 32
        unsafe = gw.client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["X-Request-ID"]
        assert unsafe != "bad id\n" and len(unsafe) == 32
        err = gw.client.post("/generate", json={}, headers={"X-Request-ID": "abc-1"})
        assert _error(err)["request_id"] == "abc-1"


def test_cors(make_gateway: MakeGateway) -> None:
    with make_gateway(security={"cors_origins": ["https://app.example"]}) as gw:
        r = gw.client.options(
            "/generate",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = gw.client.post("/generate", json={"prompt": "a"}, headers={"Origin": "https://app.example"})
        assert "X-Routet2i-Tier" in r.headers["access-control-expose-headers"]
