"""The tiny stack under Ray Serve, deployed from a Serve config file the way ``routet2i ray`` does
(:mod:`routet2i.ray_serve.deploy`): the gateway as the ingress deployment (a tiny router) in front
of an edge and a cloud deployment (tiny SD pipelines), on a local 2-CPU cluster started once for
the module. Checks the native ``/generate`` and the openai client through Serve's HTTP proxy, the
gateway's lifespan under Serve, a saturated tier's back-pressure as the gateway's 429 with
Retry-After, and a burst scaling the edge deployment up and back down (``serve.status()``).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from routet2i.ray_serve.deploy import IMPORT_PATH
from tests.ray_serve.conftest import local_serve, tiny_tier_settings, write_yaml
from tests.workers.harness import free_port

pytestmark = [pytest.mark.slow, pytest.mark.ray]

APP = "routet2i"
#: The cloud deployment's back-pressure Retry-After (seconds): one request in it, one queued.
CLOUD_RETRY_AFTER_S = 4
TIMEOUT_S = 30.0
#: Autoscaling metrics pushed every 0.5 s (default 10 s), so a burst is seen in about a second.
AUTOSCALING_PUSH_S = {
    "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.5",
    "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.5",
}


@dataclass
class Stack:
    url: str


def serve_config(tmp: Path, tiny_sd: Path, tiny_router: Path, port: int) -> Path:
    gateway = write_yaml(
        tmp / "gateway.yaml",
        {
            "router": {"checkpoint": str(tiny_router), "device": "cpu"},
            "tiers": {
                "edge": {"model": "tiny-edge", "timeout_s": 20},
                "cloud": {"model": "tiny-cloud", "timeout_s": 20},
            },
            "budget": {"cloud_share": 0.5, "window": 50, "warmup": 1000},
            "limits": {"min_size": 32, "default_width": 64, "default_height": 64, "request_timeout_s": TIMEOUT_S},
            "health": {"interval_s": 0.2, "timeout_s": 5.0, "failure_threshold": 1, "cooldown_s": 1.0},
            "logging": {"json_logs": True},
        },
    )
    edge = write_yaml(tmp / "edge.yaml", tiny_tier_settings(tiny_sd, "tiny-edge", "edge"))
    cloud = write_yaml(tmp / "cloud.yaml", tiny_tier_settings(tiny_sd, "tiny-cloud", "cloud"))
    cpu = {"num_cpus": 0.25}
    return write_yaml(
        tmp / "serve.yaml",
        {
            "proxy_location": "HeadOnly",
            "http_options": {"host": "127.0.0.1", "port": port},
            "applications": [
                {
                    "name": APP,
                    "route_prefix": "/",
                    "import_path": IMPORT_PATH,
                    "args": {"gateway": str(gateway), "tiers": {"edge": str(edge), "cloud": str(cloud)}},
                    "deployments": [
                        {"name": "gateway", "ray_actor_options": cpu},
                        {
                            "name": "edge",
                            "ray_actor_options": cpu,
                            "max_ongoing_requests": 2,
                            "max_queued_requests": 64,
                            "autoscaling_config": {
                                "min_replicas": 1,
                                "max_replicas": 2,
                                "initial_replicas": 1,
                                "target_ongoing_requests": 1,
                                "upscale_delay_s": 0.5,
                                "downscale_delay_s": 2,
                                # > the (deprecated) metrics_interval_s default of 10 s; the
                                # metrics are pushed every 0.5 s here (AUTOSCALING_PUSH_S)
                                "look_back_period_s": 10.5,
                            },
                        },
                        {
                            "name": "cloud",
                            "ray_actor_options": cpu,
                            "num_replicas": 1,
                            "max_ongoing_requests": 1,
                            "max_queued_requests": 1,
                            "backpressure_config": {"status_code": 429, "retry_after_s": CLOUD_RETRY_AFTER_S},
                        },
                    ],
                }
            ],
        },
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_router_dir: Path) -> Iterator[Stack]:
    from routet2i.ray_serve.deploy import deploy, load_config
    from routet2i.testing.pipelines import save_tiny_pipeline

    tmp = tmp_path_factory.mktemp("ray-stack")
    tiny_sd = Path(save_tiny_pipeline("sd", tmp / "tiny-sd"))
    port = free_port()
    config = load_config(serve_config(tmp, tiny_sd, tiny_router_dir, port))
    with local_serve(http_port=port, env=AUTOSCALING_PUSH_S):
        deploy(config, timeout_s=240)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        yield Stack(url)


def wait_ready(url: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/readyz", timeout=5)
        body = response.json()
        if response.status_code == 200 and all(t["state"] == "closed" for t in body["tiers"].values()):
            return body
        time.sleep(0.2)
    raise AssertionError(f"the gateway under Serve is not ready after {timeout} s: {body}")


def edge_replicas() -> dict[str, int]:
    from ray import serve

    states = serve.status().applications[APP].deployments["edge"].replica_states
    return {str(getattr(state, "value", state)): n for state, n in states.items()}


def test_generate_through_the_serve_proxy(stack: Stack) -> None:
    for route, model in (("edge", "tiny-edge"), ("cloud", "tiny-cloud"), ("auto", None)):
        body = {"prompt": "a lighthouse on a cliff", "seed": 3, "route": route}
        response = httpx.post(f"{stack.url}/generate", json=body, timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["routing"]["tier"] in ("edge", "cloud")
        if model is not None:
            assert answer["routing"]["model"] == model
        (image,) = answer["images"]
        assert base64.b64decode(image["b64_png"]).startswith(b"\x89PNG")


def test_the_openai_client_through_the_serve_proxy(stack: Stack) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=0, timeout=TIMEOUT_S)
    result = client.images.generate(model="tiny-edge", prompt="a red fox in the snow", size="64x64", n=2)
    assert len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "").startswith(b"\x89PNG") for d in result.data)
    routing = result.model_extra["routet2i"] if result.model_extra else {}
    assert routing["tier"] == "edge"


def test_the_gateway_lifespan_runs_under_serve(stack: Stack) -> None:
    """The router batcher and the tiers' health checks are started by the app's lifespan only."""
    body = wait_ready(stack.url)
    assert body["router"] is True
    assert all(tier["checked"] for tier in body["tiers"].values())


def test_a_saturated_tier_is_429_with_retry_after(stack: Stack) -> None:
    """Forced to the cloud (no fallback): one request in the replica, one queued in front of
    it, the rest refused by Serve's back-pressure and answered 429 with Retry-After. A request
    arriving after a refusal took the tier out of rotation for that Retry-After hears 429 too,
    with the time left."""
    body = {"prompt": "a crowded market", "route": "cloud", "width": 128, "height": 128, "steps": 4, "n": 4}

    def post(i: int) -> httpx.Response:
        return httpx.post(f"{stack.url}/generate", json={**body, "seed": i}, timeout=TIMEOUT_S)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 429}, [r.text for r in responses if r.status_code not in (200, 429)]
    refused = [r for r in responses if r.status_code == 429]
    assert refused and len(refused) < len(responses), codes
    for r in refused:
        assert 1 <= int(r.headers["Retry-After"]) <= CLOUD_RETRY_AFTER_S
        assert r.json()["error"]["type"] == "overloaded"
    assert any(r.headers["Retry-After"] == str(CLOUD_RETRY_AFTER_S) for r in refused)  # Serve's own
    wait_ready(stack.url)  # the 429s opened the cloud breaker for Retry-After; it closes again


def test_a_burst_scales_the_edge_deployment_up_and_back_down(stack: Stack) -> None:
    assert edge_replicas() == {"RUNNING": 1}
    stop = threading.Event()
    failures: list[str] = []

    def client(i: int) -> int:
        sent = 0
        with httpx.Client(timeout=TIMEOUT_S) as http:
            while not stop.is_set():
                r = http.post(f"{stack.url}/generate", json={"prompt": f"a burst {i}", "route": "edge", "seed": sent})
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                sent += 1
        return sent

    seen: list[dict[str, int]] = []
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(client, i) for i in range(6)]
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                seen.append(edge_replicas())
                if seen[-1].get("RUNNING", 0) >= 2:
                    break
                time.sleep(0.5)
        finally:
            stop.set()
        sent = sum(f.result() for f in futures)
    assert seen[-1].get("RUNNING", 0) == 2, seen
    assert failures == [] and sent > 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and edge_replicas() != {"RUNNING": 1}:
        time.sleep(0.5)
    assert edge_replicas() == {"RUNNING": 1}
