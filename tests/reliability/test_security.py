"""The security review (docs/SECURITY.md), one test per item: limits hold at the gateway and at
the worker; keys are compared in constant time and never logged; the worker can require a key;
the hosted-API backend follows no redirect, masks its key in provider errors, and warns about
plain http."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from routet2i.gateway.app import create_app as create_gateway
from routet2i.gateway.assembly import worker_client
from routet2i.gateway.security import KeyRing
from routet2i.logs import JsonFormatter
from routet2i.workers.app import create_app as create_worker
from routet2i.workers.auth import WorkerKeys
from routet2i.workers.backend import GenerationJob
from routet2i.workers.errors import WorkerUpstreamError
from routet2i.workers.openai_images import OpenAIImagesBackend
from routet2i.workers.settings import WorkerSettings
from tests.gateway.conftest import MakeGateway, gateway_settings
from tests.gateway.doubles import FakeEngine
from tests.workers.fakes import RecordingBackend
from tests.workers.harness import ServerThread, tiny_settings, wait_ready

CLIENT_KEY, ADMIN_KEY, WORKER_KEY, PROVIDER_KEY = "ck-3f9a1c", "ak-77b2e0", "wk-c4d5e6", "sk-provider-0a1b2c3d"

GATEWAY_LIMITS = {
    "max_prompt_chars": 50,
    "max_size": 256,
    "default_width": 64,
    "default_height": 64,
    "max_steps": 8,
    "max_n": 2,
    "max_body_bytes": 2048,
    "max_route_batch": 3,
}

# (path, body, status, field): each over one limit
GATEWAY_CASES = [
    ("/generate", {"prompt": "x" * 51}, 422, "prompt"),
    ("/generate", {"prompt": "a fox", "negative_prompt": "y" * 51}, 422, "negative_prompt"),
    ("/generate", {"prompt": "a fox", "n": 3}, 422, "n"),
    ("/generate", {"prompt": "a fox", "width": 264}, 422, "width"),
    ("/generate", {"prompt": "a fox", "height": 100}, 422, "height"),  # not a multiple of 8
    ("/generate", {"prompt": "a fox", "steps": 9}, 422, "steps"),
    ("/v1/images/generations", {"prompt": "a fox", "size": "1024x1024"}, 422, "size"),
    ("/v1/images/generations", {"prompt": "a fox", "n": 3}, 422, "n"),
    ("/v1/images/generations", {"prompt": "x" * 51}, 422, "prompt"),
    ("/v1/route", {"prompts": ["a", "b", "c", "d"]}, 422, "prompts"),
    ("/generate", {"prompt": "x" * 3000}, 413, "body"),
]


@pytest.mark.parametrize(("path", "body", "status", "field"), GATEWAY_CASES)
def test_limits_hold_at_the_gateway(
    make_gateway: MakeGateway, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    with make_gateway(limits=GATEWAY_LIMITS) as gw:
        r = gw.client.post(path, json=body)
        assert (r.status_code, r.json()["error"].get("field")) == (status, field), r.text
        assert gw.edge.calls + gw.cloud.calls == 0 and gw.engine.batches in ([], [1])  # only the warm-up


def test_a_chunked_body_over_the_limit_is_refused_at_both(make_gateway: MakeGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    with make_gateway(limits=GATEWAY_LIMITS) as gw:
        r = gw.client.post("/generate", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and gw.edge.calls == 0
    backend = RecordingBackend()
    with TestClient(create_worker(tiny_settings("unused"), backend=backend)) as client:
        _ready(client)
        r = client.post("/v1/generate", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and backend.calls == []


# tiny_settings: prompt ≤ 200 chars, sides 32..128, ≤ 128x128 px, steps ≤ 4, n ≤ 4, body ≤ 4096 B
WORKER_CASES = [
    ({"prompt": "x" * 201}, 422, "prompt"),
    ({"prompt": "a fox", "negative_prompt": "y" * 201}, 422, "negative_prompt"),
    ({"prompt": "a fox", "n": 5}, 422, "n"),
    ({"prompt": "a fox", "width": 136}, 422, "width"),
    ({"prompt": "a fox", "height": 16}, 422, "height"),
    ({"prompt": "a fox", "steps": 5}, 422, "steps"),
    ({"prompt": "a fox", "steps": 0}, 422, "steps"),
    ({"prompt": "x" * 5000}, 413, "body"),
]


def _ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the worker never turned ready"
        time.sleep(0.01)


def test_limits_hold_at_the_worker() -> None:
    backend = RecordingBackend()
    with TestClient(create_worker(tiny_settings("unused"), backend=backend)) as client:
        _ready(client)
        for body, status, field in WORKER_CASES:
            r = client.post("/v1/generate", json=body)
            assert (r.status_code, r.json()["error"].get("field")) == (status, field), (body, r.text)
        assert (
            client.post("/v1/generate", json={"prompt": "a fox", "n": 4, "width": 128, "height": 128}).status_code
            == 200
        )
    assert len(backend.calls) == 1  # only the valid request reached the model


@pytest.mark.parametrize("ring_class", [KeyRing, WorkerKeys])
def test_keys_are_compared_in_constant_time(ring_class: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every configured key is compared with hmac.compare_digest, even after a match (no early
    exit that would tell which key, or that a key, matched)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    ring = ring_class([SecretStr("first-key"), SecretStr("second-key"), SecretStr("third-key")])
    assert ring.matches("first-key") and not ring.matches("first-kex") and not ring.matches(None)
    assert [b for _, b in calls] == [b"first-key", b"second-key", b"third-key"] * 2
    assert "first-key" not in repr(ring)


def _all_log_text(records: list[logging.LogRecord]) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in records)


def test_keys_are_never_logged(make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    security = {"api_keys": [CLIENT_KEY], "admin_key": ADMIN_KEY}
    tiers = {
        "edge": {"url": "http://edge.test", "model": "tiny-edge", "timeout_s": 5, "api_key": WORKER_KEY},
        "cloud": {"url": "http://cloud.test", "model": "tiny-cloud", "timeout_s": 5, "api_key": WORKER_KEY},
    }
    with make_gateway(security=security, tiers=tiers) as gw:
        auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
        assert gw.client.post("/generate", json={"prompt": "a fox"}, headers=auth).status_code == 200
        assert (
            gw.client.post("/generate", json={"prompt": "a fox"}, headers={"X-API-Key": CLIENT_KEY + "x"}).status_code
            == 401
        )
        admin = {"X-Admin-Key": ADMIN_KEY}
        assert gw.client.put("/v1/budget", json={"cloud_share": 0.2}, headers=admin).status_code == 200
        assert (
            gw.client.put("/v1/budget", json={"cloud_share": 0.2}, headers={"X-Admin-Key": "nope"}).status_code == 401
        )
        settings = gw.settings
        dumped = settings.model_dump_json() + repr(settings) + str(settings)
    text = _all_log_text(caplog.records) + dumped
    for key in (CLIENT_KEY, ADMIN_KEY, WORKER_KEY):
        assert key not in text


@pytest.fixture
def keyed_worker() -> Iterator[ServerThread]:
    settings = tiny_settings("unused", security={"api_keys": [WORKER_KEY]})
    with ServerThread(create_worker(settings, backend=RecordingBackend())) as server:
        wait_ready(server.url)
        yield server


def test_the_worker_can_require_a_key(keyed_worker: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{keyed_worker.url}/v1/generate"
    assert httpx.post(url, json={"prompt": "a fox"}).status_code == 401
    bad_body = httpx.post(url, json={"steps": "many"})  # refused before the body is even looked at
    assert bad_body.status_code == 401 and bad_body.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.post(url, json={"prompt": "a fox"}, headers={"X-API-Key": "wk-wrong"}).status_code == 401
    assert (
        httpx.post(url, json={"prompt": "a fox"}, headers={"Authorization": f"Bearer {WORKER_KEY}"}).status_code == 200
    )
    assert httpx.post(url, json={"prompt": "a fox"}, headers={"X-API-Key": WORKER_KEY}).status_code == 200
    assert httpx.get(f"{keyed_worker.url}/v1/info").status_code == 401
    assert httpx.get(f"{keyed_worker.url}/readyz").status_code == 200  # probes stay open
    assert WORKER_KEY not in _all_log_text(caplog.records)


def test_the_gateway_presents_the_tier_key_and_a_wrong_one_is_its_own_fault(keyed_worker: ServerThread) -> None:
    def settings(key: str) -> Any:
        tier = {"url": keyed_worker.url, "timeout_s": 10, "api_key": key}
        return gateway_settings(
            tiers={"edge": {**tier, "model": "e"}, "cloud": {**tier, "model": "c"}},
            limits={"min_size": 32, "default_width": 64, "default_height": 64},
        )

    for key, status in ((WORKER_KEY, 200), ("wk-wrong", 502)):
        s = settings(key)
        workers = {t: worker_client(s.tiers.get(t), probe_timeout=2.0) for t in ("edge", "cloud")}
        with TestClient(create_gateway(s, engine=FakeEngine(), workers=workers)) as client:  # type: ignore[arg-type]
            r = client.post("/generate", json={"prompt": "a fox", "route": "edge"})
        # a worker refusing the gateway's key is the gateway's misconfiguration: 502, not the user's 4xx
        assert r.status_code == status, r.text
        if status != 200:
            assert r.json()["error"]["type"] == "upstream_error"


class Provider:
    """A stand-in images provider on a real socket: redirects, or echoes the key in a 401."""

    def __init__(self, mode: str, redirect_status: int = 307, target: str = "") -> None:
        self.mode, self.redirect_status, self.target = mode, redirect_status, target
        self.calls: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def generations(request: Request) -> Response:
            self.calls.append(dict(request.headers))
            if self.mode == "redirect":
                return Response(status_code=self.redirect_status, headers={"Location": self.target})
            key = request.headers.get("authorization", "")[7:]
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {key}."}}, status_code=401)

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def _hosted(url: str, monkeypatch: pytest.MonkeyPatch) -> OpenAIImagesBackend:
    monkeypatch.setenv("ROUTET2I_TEST_PROVIDER_KEY", PROVIDER_KEY)
    settings = WorkerSettings.load(
        None,
        backend="openai",
        model="gpt-image-1",
        defaults={"width": 64, "height": 64, "steps": 1, "guidance_scale": 0.0},
        limits={"min_size": 32},
        api={"base_url": f"{url}/v1", "api_key_env": "ROUTET2I_TEST_PROVIDER_KEY", "sizes": {"64x64": "64x64"}},
    )
    return OpenAIImagesBackend(settings)


JOB = GenerationJob(prompt="a fox", negative_prompt=None, width=64, height=64, steps=1, guidance_scale=0.0, seeds=(1,))


@pytest.mark.parametrize("redirect_status", [301, 302, 303, 307, 308])
async def test_the_hosted_backend_follows_no_redirect(redirect_status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = Provider("echo")
    with ServerThread(elsewhere.app()) as other:
        provider = Provider("redirect", redirect_status, f"{other.url}/v1/images/generations")
        with ServerThread(provider.app()) as server:
            backend = _hosted(server.url, monkeypatch)
            await backend.start(None)
            try:
                with pytest.raises(WorkerUpstreamError, match="redirects are not followed"):
                    await backend.generate([JOB])
            finally:
                await backend.close()
    assert len(provider.calls) == 1 and elsewhere.calls == []  # the key never left for the other host


async def test_a_provider_echoing_the_key_does_not_leak_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = Provider("echo")
    with ServerThread(provider.app()) as server:
        backend = _hosted(server.url, monkeypatch)
        await backend.start(None)
        try:
            with pytest.raises(WorkerUpstreamError) as info:
                await backend.generate([JOB])
        finally:
            await backend.close()
    assert provider.calls[0]["authorization"] == f"Bearer {PROVIDER_KEY}"  # it was sent...
    assert PROVIDER_KEY not in info.value.message and "[redacted]" in info.value.message  # ...never passed on
    assert PROVIDER_KEY not in _all_log_text(caplog.records)


def test_a_plain_http_provider_off_this_machine_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _hosted("http://127.0.0.1:9", monkeypatch)
    assert not [r for r in caplog.records if "unencrypted" in r.getMessage()]
    _hosted("http://images.internal.example:8080", monkeypatch)
    assert [r for r in caplog.records if "unencrypted" in r.getMessage() and r.levelno == logging.WARNING]
