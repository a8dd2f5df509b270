"""End to end over sockets: an edge tier of three real ``routet2i worker`` processes (the tiny SD
pipeline) behind the gateway (uvicorn on a real socket, built by the product's assembly from
``tiers.edge.urls``). Traffic spreads over the replicas; one replica SIGKILLed mid-run hands its
share to the others, and no request is lost or answered past its deadline."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from routet2i.bench.processes import ManagedProcess, free_port, routet2i_argv
from routet2i.gateway.app import create_app
from routet2i.gateway.assembly import http_workers
from tests.gateway.conftest import gateway_settings, tiny_worker_config
from tests.gateway.doubles import FakeEngine
from tests.workers.harness import ServerThread

pytestmark = pytest.mark.slow

REPLICAS = 3
REQUEST_TIMEOUT_S = 10.0
CONCURRENCY = 6


@dataclass
class Stack:
    gateway: str
    workers: list[ManagedProcess]
    urls: list[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_sd_dir: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("replicas")
    ports = [free_port() for _ in range(REPLICAS)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    workers = []
    for i, port in enumerate(ports):
        config = tmp / f"edge-{i}.yaml"
        config.write_text(yaml.safe_dump(tiny_worker_config(tiny_sd_dir, "tiny-edge", port)), encoding="utf-8")
        argv = routet2i_argv("worker", "--config", str(config), log_level="WARNING")
        workers.append(ManagedProcess(f"edge-{i}", argv, tmp / f"edge-{i}.log").start())
    settings = gateway_settings(
        tiers={
            "edge": {"urls": urls, "model": "tiny-edge", "timeout_s": 8},
            "cloud": {"url": f"http://127.0.0.1:{free_port()}", "model": "tiny-cloud", "timeout_s": 8},
        },
        routing={"fallback": False},
        limits={"min_size": 32, "default_width": 64, "default_height": 64, "request_timeout_s": REQUEST_TIMEOUT_S},
        health={"interval_s": 0.2, "timeout_s": 1.0, "failure_threshold": 1, "cooldown_s": 1.0},
    )
    workers_by_tier = http_workers(
        settings
    )  # what build_app does, with a fake router; the dispatcher binds the replica metrics
    app = create_app(settings, engine=FakeEngine(), workers=workers_by_tier)  # type: ignore[arg-type]
    try:
        for worker, url in zip(workers, urls, strict=True):
            worker.wait_ready(url)
        with ServerThread(app, log_config=None) as gateway:
            yield Stack(gateway.url, workers, urls)
    finally:
        for worker in workers:
            worker.stop(grace_s=5)


def served_by_replica(gateway: str) -> dict[str, float]:
    """``replica_requests_total{outcome="served"}`` of the edge's replicas, from ``/metrics``."""
    text = httpx.get(f"{gateway}/metrics", timeout=5).text
    pattern = r'routet2i_gateway_replica_requests_total\{outcome="served",replica="([^"]+)",tier="edge"\} (\S+)'
    return {url: float(value) for url, value in re.findall(pattern, text)}


def test_traffic_spreads_over_the_replicas_and_a_killed_one_loses_no_request(stack: Stack) -> None:
    stop = threading.Event()
    results: list[tuple[int, float, str]] = []  # (status, seconds, error type)

    def client() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S + 5) as http:
            i = 0
            while not stop.is_set():
                i += 1
                t0 = time.monotonic()
                r = http.post(f"{stack.gateway}/generate", json={"prompt": f"a red fox {i}", "route": "edge"})
                error = "" if r.status_code == 200 else r.json().get("error", {}).get("type", "")
                results.append((r.status_code, time.monotonic() - t0, error))

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for _ in range(CONCURRENCY):
            pool.submit(client)
        time.sleep(2.0)
        before = served_by_replica(stack.gateway)
        stack.workers[0].kill()  # SIGKILL mid-run, requests in flight on it
        killed_at = len(results)
        time.sleep(3.0)
        stop.set()
    after = served_by_replica(stack.gateway)

    assert len(results) > killed_at + 10, results
    failed = [r for r in results if r[0] != 200]
    assert not failed, failed  # no request lost
    assert max(seconds for _, seconds, _ in results) < REQUEST_TIMEOUT_S  # none past its deadline
    # before the kill every replica served some; after it the killed one served none and the
    # others took its share
    assert all(before.get(url, 0) > 0 for url in stack.urls), before
    gained = {url: after[url] - before.get(url, 0) for url in stack.urls}
    assert gained[stack.urls[0]] <= CONCURRENCY, gained  # at most the requests it had in flight
    assert all(gained[url] > 0 for url in stack.urls[1:]), gained
    text = httpx.get(f"{stack.gateway}/metrics", timeout=5).text
    # requests did meet the dead replica (in flight at the kill, or sent before its breaker
    # opened) and were served by another one
    dead = re.escape(stack.urls[0])
    met_dead = (
        rf'routet2i_gateway_replica_requests_total\{{outcome="(?!served)[^"]+",replica="{dead}",tier="edge"\}} (\S+)'
    )
    assert sum(float(v) for v in re.findall(met_dead, text)) >= 1, text
    assert f'routet2i_gateway_replica_up{{replica="{stack.urls[0]}",tier="edge"}} 0.0' in text
    assert 'routet2i_gateway_tier_up{tier="edge"} 1.0' in text  # the tier stays up on the others
