"""The gateway's ``/readyz``: when tiers are out of rotation, it names them with the workers' own
reasons (their ``/readyz`` body, or why they could not be asked), not only "not ready"."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app
from routet2i.routing.health import TierHealth
from routet2i.workers.client import WorkerClient, readiness_reason
from tests.gateway.conftest import gateway_settings
from tests.gateway.doubles import FakeEngine

LOAD_ERROR = "OSError: Error no file named model_index.json found in directory /models/sd-turbo"


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def _failed_load(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"ready": False, "status": "failed", "error": LOAD_ERROR})


def _loading(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"ready": False, "status": "loading", "error": None})


def _client(name: str, handler: object) -> WorkerClient:
    return WorkerClient(f"http://{name}.test", transport=httpx.MockTransport(handler), connect_retries=0)  # type: ignore[arg-type]


def _check_now(client: TestClient, app: FastAPI) -> None:
    """Run the gateway's health checks once, on its event loop (the periodic one may not yet have)."""
    health: TierHealth = app.state.dispatcher.health
    assert client.portal is not None
    client.portal.call(health.check_once)


def test_readyz_names_each_tier_out_of_rotation_with_its_workers_reason() -> None:
    workers = {"edge": _client("edge", _refused), "cloud": _client("cloud", _failed_load)}
    app = create_app(gateway_settings(), engine=FakeEngine(), workers=workers)
    with TestClient(app) as client:
        _check_now(client, app)
        r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and set(body["out_of_rotation"]) == {"edge", "cloud"}
    assert "edge.test unreachable" in body["out_of_rotation"]["edge"]
    assert "Connection refused" in body["out_of_rotation"]["edge"]
    assert body["out_of_rotation"]["cloud"] == f"health check: the model failed to load: {LOAD_ERROR}"
    assert body["tiers"]["cloud"]["not_ready_reason"] == body["out_of_rotation"]["cloud"]
    assert (
        "tier edge: " in body["detail"]
        and f"tier cloud: health check: the model failed to load: {LOAD_ERROR}" in (body["detail"])
    )


def test_readyz_is_ready_with_one_tier_up_and_still_names_the_other() -> None:
    workers = {
        "edge": _client("edge", lambda request: httpx.Response(200, json={"ready": True, "status": "ready"})),
        "cloud": _client("cloud", _loading),
    }
    app = create_app(gateway_settings(), engine=FakeEngine(), workers=workers)
    with TestClient(app) as client:
        _check_now(client, app)
        r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and "detail" not in body
    assert body["out_of_rotation"] == {"cloud": "health check: the model is still loading"}


def test_readiness_reason_reads_the_workers_body() -> None:
    request = httpx.Request("GET", "http://w.test/readyz")
    assert readiness_reason(_failed_load(request)) == f"the model failed to load: {LOAD_ERROR}"
    assert readiness_reason(_loading(request)) == "the model is still loading"
    assert readiness_reason(httpx.Response(503, json={"status": "stopped"})) == "the worker is stopped"
    assert readiness_reason(httpx.Response(502, text="bad gateway")) == "/readyz answered 502: bad gateway"
