"""Regressions of what the fault runs and the fuzzing found (docs/RELIABILITY.md):

- a worker answering 200 with no image, too many, or no PNG made the gateway answer 500 (and,
  re-raised under uvicorn, sometimes drop the connection); now it is a failed worker call (502,
  fallback to the other tier);
- a 500 lacked ``X-Request-ID``;
- ``true`` was accepted as a number (``n``, ``guidance_scale``, ``money_per_period``...);
- the OpenAPI schemas did not document the error answers (nor ``/metrics`` as text).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app as create_gateway
from routet2i.workers.app import create_app as create_worker
from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import WorkerError
from routet2i.workers.schemas import GenerateRequest, GenerateResponse
from tests.gateway.conftest import MakeGateway, gateway_settings
from tests.gateway.doubles import FakeEngine, tiny_png
from tests.workers.fakes import RecordingBackend
from tests.workers.harness import tiny_settings

PNG_B64 = base64.b64encode(tiny_png()).decode()


def answer(n: int = 1, b64: str = PNG_B64) -> dict[str, Any]:
    return {
        "images": [{"b64_png": b64, "seed": 7 + i} for i in range(n)],
        "model": "m",
        "parameters": {"width": 64, "height": 64, "steps": 1, "guidance_scale": 0.0},
        "timings": {"queue_ms": 0, "generate_ms": 0, "total_ms": 0, "batch_images": n, "batch_requests": 1},
    }


BROKEN_ANSWERS = {
    "no image": answer(0),
    "one image too many": answer(2),
    "not base64": answer(1, "!!! not base64 !!!"),
    "base64 of something else": answer(1, base64.b64encode(b"GIF89a....").decode()),
}


def mock_worker(body: Callable[[], dict[str, Any]]) -> WorkerClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(200, json={"ready": True})
        return httpx.Response(200, json=body())

    return WorkerClient("http://worker.test", transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("broken", sorted(BROKEN_ANSWERS))
async def test_the_client_refuses_an_answer_without_the_images_asked_for(broken: str) -> None:
    async with mock_worker(lambda: BROKEN_ANSWERS[broken]) as worker:
        with pytest.raises(WorkerError) as info:
            await worker.generate(GenerateRequest(prompt="a fox", seed=7))
    assert info.value.status == 502 and type(info.value) is WorkerError
    async with mock_worker(lambda: answer(2)) as worker:
        ok = await worker.generate(GenerateRequest(prompt="a fox", seed=7, n=2))
    assert isinstance(ok, GenerateResponse) and len(ok.images) == 2


@pytest.fixture
def broken_edge() -> Iterator[TestClient]:
    """A gateway whose edge answers 200 with no image, and whose cloud is fine."""
    workers = {"edge": mock_worker(lambda: answer(0)), "cloud": mock_worker(lambda: answer(1))}
    app = create_gateway(gateway_settings(), engine=FakeEngine(), workers=workers)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("accept", ["application/json", "image/png"])
def test_a_broken_answer_falls_back_instead_of_a_500(broken_edge: TestClient, accept: str) -> None:
    # PRŜ 0.9: the router wants the edge; the edge's answer is broken; the cloud serves it
    r = broken_edge.post("/generate", json={"prompt": "prs=0.9 a fox", "seed": 7}, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["X-Routet2i-Tier"] == "cloud" and r.headers["X-Routet2i-Fallback-From"] == "edge"
    forced = broken_edge.post(
        "/generate", json={"prompt": "a fox", "route": "edge"}, headers={"Accept": accept, "X-Request-ID": "forced-1"}
    )
    assert forced.status_code == 502 and forced.json()["error"]["type"] == "upstream_error"
    assert forced.headers["X-Request-ID"] == "forced-1"


class ExplodingWorker(WorkerClient):
    """A worker client with a bug: ``generate`` raises something that is not a WorkerError."""

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        raise RuntimeError("a bug")


def test_a_500_carries_the_request_id_and_reveals_nothing() -> None:
    worker = ExplodingWorker(
        "http://worker.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, json={}))
    )
    app = create_gateway(gateway_settings(), engine=FakeEngine(), workers={"edge": worker, "cloud": worker})
    with TestClient(app) as client:
        r = client.post("/generate", json={"prompt": "a fox"}, headers={"X-Request-ID": "bug-1"})
        assert r.status_code == 500 and r.headers["X-Request-ID"] == "bug-1"
        assert r.json()["error"] == {
            "type": "internal_error",
            "message": "internal error; quote the request id when reporting it",
            "code": "internal_error",
            "request_id": "bug-1",
        }
        metrics = client.get("/metrics").text
    assert 'routet2i_gateway_requests_total{endpoint="generate",status="500",tier="none"} 1.0' in metrics


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/generate", {"prompt": "a fox", "n": True}, "n"),
        ("/generate", {"prompt": "a fox", "seed": "5"}, "seed"),
        ("/generate", {"prompt": "a fox", "guidance_scale": False}, "guidance_scale"),
        ("/v1/images/generations", {"prompt": "a fox", "guidance_scale": False}, "guidance_scale"),
        ("/v1/images/generations", {"prompt": "a fox", "n": True}, "n"),
        ("/v1/route", {"prompt": 5}, "prompt"),
    ],
)
def test_the_gateway_takes_no_boolean_or_string_for_a_number(
    make_gateway: MakeGateway, path: str, body: dict[str, Any], field: str
) -> None:
    with make_gateway() as gw:
        r = gw.client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert gw.edge.calls + gw.cloud.calls == 0


def test_the_budget_takes_no_boolean_for_money(make_gateway: MakeGateway) -> None:
    with make_gateway(security={"admin_key": "op"}) as gw:
        r = gw.client.put("/v1/budget", json={"money_per_period": True}, headers={"X-Admin-Key": "op"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "money_per_period"
        assert gw.client.get("/v1/budget").json()["money_per_period"] is None


def _ready_worker(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_worker_takes_no_boolean_for_a_number() -> None:
    backend = RecordingBackend()
    with TestClient(create_worker(tiny_settings("unused"), backend=backend)) as client:
        _ready_worker(client)
        for body in (
            {"prompt": "a fox", "steps": True},
            {"prompt": "a fox", "n": True},
            {"prompt": "a fox", "width": "64"},
        ):
            r = client.post("/v1/generate", json=body)
            assert r.status_code == 422, (body, r.text)
    assert backend.calls == []


def _error_statuses(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"]


def test_the_gateway_schema_documents_its_errors(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        schema = gw.client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for status in ("401", "413", "422", "429", "502", "503", "504"):
                ref = json.dumps(operation["responses"][status])
                assert "ErrorBody" in ref or (path, status) == ("/readyz", "503"), (method, path, status)
    assert "Not ready" in _error_statuses(schema, "/readyz", "get")["503"]["description"]
    assert "text/plain" in _error_statuses(schema, "/metrics", "get")["200"]["content"]
    assert set(schema["components"]["schemas"]["ErrorInfo"]["required"]) == {"type", "message", "code"}


def test_the_worker_schema_documents_its_errors() -> None:
    with TestClient(create_worker(tiny_settings("unused"), backend=RecordingBackend())) as client:
        schema = client.get("/openapi.json").json()
    generate = _error_statuses(schema, "/v1/generate", "post")
    assert {"400", "401", "413", "422", "429", "500", "502", "503", "504"} <= set(generate)
    assert "ErrorResponse" in json.dumps(generate["422"])
    assert "text/plain" in _error_statuses(schema, "/metrics", "get")["200"]["content"]
    assert "503" in _error_statuses(schema, "/readyz", "get")
