"""End to end over sockets: the real ``routet2i gateway`` process in front of two real
``routet2i worker`` processes serving a tiny SD pipeline, with a tiny router checkpoint.

Started once for the module. Checks the official ``openai`` client, a ``curl``-style PNG download,
the decision endpoints, and a worker killed mid-run (fallback, no hang, recovery).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from routet2i.bench.processes import ManagedProcess, free_port, routet2i_argv
from routet2i.testing.tiny_router import REFERENCE_PROMPTS
from tests.gateway.conftest import tiny_worker_config

pytestmark = pytest.mark.slow

API_KEY = "e2e-client-key"
ADMIN_KEY = "e2e-admin-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
REQUEST_TIMEOUT_S = 20.0


def Proc(args: list[str], log: Path) -> ManagedProcess:
    """A ``routet2i`` subprocess (offline, one torch thread) with its log in a file."""
    return ManagedProcess(args[0], routet2i_argv(*args), log)


def worker_config(path: Path, model: Path, name: str, port: int) -> Path:
    path.write_text(yaml.safe_dump(tiny_worker_config(model, name, port)), encoding="utf-8")
    return path


@dataclass
class Stack:
    gateway: str
    edge: Proc
    cloud: Proc
    cloud_url: str
    gateway_proc: Proc


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_router_dir: Path, tiny_sd_dir: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    pipeline = tiny_sd_dir
    edge_port, cloud_port, gw_port = free_port(), free_port(), free_port()
    edge_cfg = worker_config(tmp / "edge.yaml", pipeline, "tiny-edge", edge_port)
    cloud_cfg = worker_config(tmp / "cloud.yaml", pipeline, "tiny-cloud", cloud_port)
    gw_cfg = tmp / "gateway.yaml"
    gw_cfg.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "127.0.0.1", "port": gw_port, "graceful_shutdown_s": 1},
                "router": {"checkpoint": str(tiny_router_dir), "device": "cpu"},
                "tiers": {
                    "edge": {"url": f"http://127.0.0.1:{edge_port}", "model": "tiny-edge", "timeout_s": 15},
                    "cloud": {"url": f"http://127.0.0.1:{cloud_port}", "model": "tiny-cloud", "timeout_s": 15},
                },
                "budget": {"cloud_share": 0.5, "window": 50, "warmup": 1000},
                "limits": {
                    "min_size": 32,
                    "default_width": 64,
                    "default_height": 64,
                    "request_timeout_s": REQUEST_TIMEOUT_S,
                },
                "health": {"interval_s": 0.2, "timeout_s": 1.0, "failure_threshold": 1, "cooldown_s": 1.0},
                "security": {"api_keys": [API_KEY], "admin_key": ADMIN_KEY},
                "logging": {"json_logs": True, "log_prompts": False},
            }
        ),
        encoding="utf-8",
    )
    edge = Proc(["worker", "--config", str(edge_cfg)], tmp / "edge.log").start()
    cloud = Proc(["worker", "--config", str(cloud_cfg)], tmp / "cloud.log").start()
    gateway = Proc(["gateway", "--config", str(gw_cfg)], tmp / "gateway.log").start()
    gw_url = f"http://127.0.0.1:{gw_port}"
    try:
        edge.wait_ready(f"http://127.0.0.1:{edge_port}")
        cloud.wait_ready(f"http://127.0.0.1:{cloud_port}")
        gateway.wait_ready(gw_url)
        wait_tier(gw_url, "edge", "closed")
        wait_tier(gw_url, "cloud", "closed")
        yield Stack(gw_url, edge, cloud, f"http://127.0.0.1:{cloud_port}", gateway)
    finally:
        for proc in (gateway, edge, cloud):
            proc.terminate()
        for proc in (gateway, edge, cloud):
            proc.stop()


def wait_tier(gw: str, tier: str, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{gw}/readyz", timeout=2.0).json()
        if body["tiers"][tier]["state"] == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"tier {tier} not {state} after {timeout} s: {body}")


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return im.size


def test_openai_client_generates_an_image(stack: Stack) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{stack.gateway}/v1", api_key=API_KEY, max_retries=0, timeout=REQUEST_TIMEOUT_S)
    result = client.images.generate(
        model="auto", prompt="a red fox in the snow", size="64x64", response_format="b64_json"
    )
    assert len(result.data) == 1 and result.data[0].b64_json
    assert png_size(base64.b64decode(result.data[0].b64_json)) == (64, 64)
    routing = result.model_extra["routet2i"] if result.model_extra else {}
    assert routing["tier"] in ("edge", "cloud") and 0 < routing["prs"] < 1
    forced = client.images.generate(model="tiny-cloud", prompt="a red fox in the snow", size="96x64", n=2)
    assert [png_size(base64.b64decode(d.b64_json or "")) for d in forced.data] == [(96, 64), (96, 64)]
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match="b64_json"):
        client.images.generate(model="auto", prompt="a fox", response_format="url")


def test_png_download_like_curl(stack: Stack) -> None:
    body = {"prompt": "a lighthouse on a cliff", "seed": 11, "route": "edge", "width": 64, "height": 64}
    headers = {**AUTH, "Accept": "image/png", "X-Request-ID": "e2e-png-1"}
    first = httpx.post(f"{stack.gateway}/generate", json=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png" and png_size(first.content) == (64, 64)
    assert first.headers["X-Routet2i-Tier"] == "edge" and first.headers["X-Routet2i-Reason"] == "forced"
    assert first.headers["X-Request-ID"] == "e2e-png-1" and first.headers["X-Routet2i-Seed"] == "11"
    assert "X-Routet2i-PRS" not in first.headers  # a forced tier runs no prediction
    again = httpx.post(f"{stack.gateway}/generate", json=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
    assert again.content == first.content  # same seed and parameters, same image
    assert httpx.post(f"{stack.gateway}/generate", json=body, timeout=5).status_code == 401


def test_auto_routing_and_budget_over_http(stack: Stack) -> None:
    decisions = httpx.post(
        f"{stack.gateway}/v1/route", json={"prompts": REFERENCE_PROMPTS}, headers=AUTH, timeout=10
    ).json()["decisions"]
    tiers = {d["tier"] for d in decisions}
    assert tiers == {"edge", "cloud"}  # the tiny router splits the prompts
    r = httpx.post(
        f"{stack.gateway}/generate", json={"prompt": REFERENCE_PROMPTS[4]}, headers=AUTH, timeout=REQUEST_TIMEOUT_S
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["routing"]["tier"] == decisions[4]["tier"] and body["model"] == f"tiny-{decisions[4]['tier']}"
    budget = httpx.get(f"{stack.gateway}/v1/budget", headers=AUTH).json()
    assert budget["threshold_source"] == "calibration" and budget["decisions_total"] >= 1
    metrics = httpx.get(f"{stack.gateway}/metrics").text
    assert "routet2i_gateway_worker_latency_seconds_count" in metrics


def test_a_worker_killed_mid_run(stack: Stack) -> None:
    """Kill the cloud worker during a burst: every request ends within its deadline with an image
    (the edge takes over) or a clear error; the cloud comes back once its worker does."""
    httpx.put(f"{stack.gateway}/v1/budget", json={"cloud_share": 1.0}, headers={"X-Admin-Key": ADMIN_KEY})
    prompts = [f"{p}, variation {i}" for i in range(2) for p in REFERENCE_PROMPTS[:12]]

    def one(prompt: str) -> tuple[int, dict[str, Any], float]:
        t0 = time.monotonic()
        r = httpx.post(
            f"{stack.gateway}/generate", json={"prompt": prompt}, headers=AUTH, timeout=REQUEST_TIMEOUT_S + 5
        )
        return r.status_code, r.json(), time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(one, p) for p in prompts]
        time.sleep(0.3)
        stack.cloud.kill()
        wait_tier(stack.gateway, "cloud", "open", timeout=10)  # the health checks saw it go
        stack.cloud.start()  # it loads while the burst runs on the edge
        results = [f.result() for f in futures]

    for status, body, elapsed in results:
        assert elapsed < REQUEST_TIMEOUT_S + 2
        if status == 200:
            assert body["images"] and body["routing"]["tier"] in ("edge", "cloud")
        else:
            assert status in (502, 503, 504) and body["error"]["type"] in ("upstream_error", "unavailable", "timeout")
    fallbacks = [b for s, b, _ in results if s == 200 and b["routing"]["fallback_from"] == "cloud"]
    assert fallbacks and all(b["routing"]["tier"] == "edge" for b in fallbacks)
    assert sum(s == 200 for s, _, _ in results) >= len(results) - 8  # at most the requests in flight failed

    stack.cloud.wait_ready(stack.cloud_url)
    wait_tier(stack.gateway, "cloud", "closed")
    r = httpx.post(
        f"{stack.gateway}/generate", json={"prompt": "a fox", "route": "cloud"}, headers=AUTH, timeout=REQUEST_TIMEOUT_S
    )
    assert r.status_code == 200 and r.json()["routing"]["tier"] == "cloud"
