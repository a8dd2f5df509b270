"""Hot reload of the router checkpoint: the budget's recalibration, the batcher's engine swap,
``POST /v1/admin/reload`` with the real CheckpointPredictor on tiny checkpoints, and a real
``routet2i gateway`` process reloading on SIGHUP while requests are in flight."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from routet2i.bench.processes import free_port
from routet2i.gateway.app import create_app
from routet2i.predictor.checkpoint import read_meta, write_meta
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.routing.batcher import MicroBatcher
from routet2i.routing.ports import PredictorPort
from routet2i.testing.tiny_router import REFERENCE_PROMPTS, save_tiny_router
from routet2i.types import Prediction
from tests.gateway.conftest import MakeGateway, gateway_settings
from tests.gateway.doubles import FakeEngine, FakeWorker
from tests.gateway.test_e2e import Proc

ADMIN_KEY = "reload-admin-key"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
FIRST_DATA_ID = "untrained (tests)"
SECOND_DATA_ID = "second router (tests)"
PROMPTS = REFERENCE_PROMPTS[:6]


@pytest.fixture(scope="module")
def second_router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tiny calibrated router (other seed, other data id) with its own encoder."""
    root = tmp_path_factory.mktemp("second-router")
    path = save_tiny_router(root / "checkpoint", root / "encoder", seed=1)
    meta = read_meta(path)
    meta.training["data_id"] = SECOND_DATA_ID
    write_meta(path, meta)
    return path


@pytest.fixture(scope="module")
def wrong_encoder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_router_dir: Path) -> Path:
    """The tiny checkpoint naming an encoder of another width (MiniLM: 384, the predictor: 32)."""
    path = tmp_path_factory.mktemp("wrong-encoder") / "checkpoint"
    shutil.copytree(tiny_router_dir, path)
    config = json.loads((path / "config.json").read_text())
    config["encoder"] = "minilm"
    (path / "config.json").write_text(json.dumps(config))
    return path


def prs_of(engine: PredictorPort, prompts: list[str]) -> list[float]:
    return [p.prs for p in engine.predict(prompts)]


def route_prs(client: TestClient | httpx.Client, prompts: list[str]) -> list[float]:
    r = client.post("/v1/route", json={"prompts": prompts})
    assert r.status_code == 200, r.text
    return [d["prs"] for d in r.json()["decisions"]]


def reload_count(metrics_text: str, outcome: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(f'routet2i_gateway_router_reloads_total{{outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no reload counter for {outcome}")


# ----------------------------------------------------------------------------- batcher
class GatedEngine:
    """Answers ``prs`` for every prompt; blocks in ``predict`` until ``gate`` opens."""

    def __init__(self, prs: float, gate: threading.Event | None = None) -> None:
        self.prs, self.gate = prs, gate
        self.entered = threading.Event()
        self.batches: list[list[str]] = []

    def predict(self, prompts: list[str]) -> list[Prediction]:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        self.batches.append(list(prompts))
        return [Prediction(self.prs) for _ in prompts]

    def calibrated_threshold(self, cloud_share: float) -> float:
        return 0.3

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": f"gated-{self.prs}"}


async def test_a_swap_lets_the_running_batch_finish_and_never_mixes_engines() -> None:
    gate = threading.Event()
    old, new = GatedEngine(0.1, gate), GatedEngine(0.9)
    batcher = MicroBatcher(old, max_batch=8, max_wait_ms=0)
    await batcher.start()
    try:
        first = asyncio.ensure_future(batcher.predict(["in flight"]))
        assert await asyncio.to_thread(old.entered.wait, 5)  # the batch runs on the old engine
        queued = [asyncio.ensure_future(batcher.predict([f"queued {i}"])) for i in range(3)]
        await asyncio.sleep(0.05)
        assert batcher.swap_engine(new) is old and batcher.engine is new
        gate.set()
        assert [p.prs for p in await first] == [0.1]
        assert [[p.prs for p in await q] for q in queued] == [[0.9]] * 3
    finally:
        await batcher.stop()
    assert old.batches == [["in flight"]]
    assert new.batches == [["queued 0", "queued 1", "queued 2"]]  # one batch, one engine


# ----------------------------------------------------------------------------- admin endpoint
def test_admin_reload_makes_the_new_checkpoint_live(tiny_router_dir: Path, second_router_dir: Path) -> None:
    first, second = (
        CheckpointPredictor(tiny_router_dir, device="cpu"),
        CheckpointPredictor(second_router_dir, device="cpu"),
    )
    assert prs_of(first, PROMPTS) != pytest.approx(prs_of(second, PROMPTS))
    settings = gateway_settings(
        router={"checkpoint": str(tiny_router_dir), "device": "cpu"},
        budget={"cloud_share": 0.5, "window": 100, "warmup": 4},
        security={"admin_key": ADMIN_KEY},
    )
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    app = create_app(settings, engine=first, workers={"edge": edge.client(), "cloud": cloud.client()})
    with TestClient(app) as client:
        live = client.get("/v1/router").json()
        assert (live["checkpoint"], live["data_id"]) == (str(tiny_router_dir), FIRST_DATA_ID)
        assert route_prs(client, PROMPTS) == pytest.approx(prs_of(first, PROMPTS), abs=1e-5)
        for prompt in PROMPTS:
            assert client.post("/generate", json={"prompt": prompt}).status_code == 200
        before = client.get("/v1/budget").json()
        assert before["threshold_source"] == "live" and before["window_requests"] == len(PROMPTS)

        r = client.post("/v1/admin/reload", json={"checkpoint": str(second_router_dir)}, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["checkpoint"], body["data_id"]) == (str(second_router_dir), SECOND_DATA_ID)
        assert body["previous"]["data_id"] == FIRST_DATA_ID and body["loaded_at"] >= live["loaded_at"]
        assert body["reloads"]["last"]["outcome"] == "success" and body["reloads"]["last"]["source"] == "admin"

        assert route_prs(client, PROMPTS) == pytest.approx(
            prs_of(second, PROMPTS), abs=1e-5
        )  # reloaded on the onnx backend, prs_of is torch
        assert client.get("/v1/models").json()["router"]["data_id"] == SECOND_DATA_ID
        budget = client.get("/v1/budget").json()  # the new calibration, the same accounting
        assert budget["threshold_source"] == "calibration"
        assert budget["threshold"] == pytest.approx(second.threshold_for_budget(0.5))
        for name in ("window_requests", "cloud_in_window", "decisions_total", "realised_cloud_share"):
            assert budget[name] == before[name], name

        # Without a body: the live folder is read again.
        again = client.post("/v1/admin/reload", headers=ADMIN)
        assert again.status_code == 200 and again.json()["checkpoint"] == str(second_router_dir)
        assert reload_count(client.get("/metrics").text, "success") == 2


def test_a_failed_reload_keeps_the_old_router(
    tiny_router_dir: Path, wrong_encoder_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_router_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    a_file = tmp_path / "config.json"
    a_file.write_text("{}")
    engine = CheckpointPredictor(tiny_router_dir, device="cpu")
    settings = gateway_settings(router={"checkpoint": str(tiny_router_dir)}, security={"admin_key": ADMIN_KEY})
    app = create_app(
        settings, engine=engine, workers={"edge": FakeWorker("e").client(), "cloud": FakeWorker("c").client()}
    )
    cases: list[tuple[Any, dict[str, str], int, str, str]] = [
        ({"checkpoint": str(tmp_path / "missing")}, ADMIN, 404, "checkpoint_not_found", "no checkpoint folder"),
        ({"checkpoint": str(a_file)}, ADMIN, 422, "invalid_checkpoint", "not a folder"),
        ({"checkpoint": str(broken)}, ADMIN, 422, "invalid_checkpoint", "safetensors"),
        ({"checkpoint": str(wrong_encoder_dir)}, ADMIN, 422, "invalid_checkpoint", "gives width 384"),
        ({"checkpoint": 3}, ADMIN, 422, "invalid_request", "checkpoint"),
        ({"checkpoint": ""}, ADMIN, 422, "invalid_request", "checkpoint"),
        ({"path": "x"}, ADMIN, 422, "invalid_request", "unknown field"),
        ({"checkpoint": str(tiny_router_dir)}, {}, 401, "unauthorized", "admin key"),
        ({"checkpoint": str(tiny_router_dir)}, {"X-Admin-Key": "wrong"}, 401, "unauthorized", "admin key"),
    ]
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="routet2i.routing.reload"):
        expected_prs = route_prs(client, PROMPTS)
        live = client.get("/v1/router").json()
        for body, headers, status, error_type, text in cases:
            r = client.post("/v1/admin/reload", json=body, headers=headers)
            assert r.status_code == status, (body, r.text)
            error = r.json()["error"]
            assert error["type"] == error_type and text in error["message"], (body, error)
            if status in (404, 422):
                assert error["field"] == ("body" if "path" in body else "checkpoint")
            assert route_prs(client, PROMPTS) == expected_prs  # the old router still serves
        assert client.get("/v1/router").json()["loaded_at"] == live["loaded_at"]
        status_now = client.get("/v1/router").json()["reloads"]
        assert status_now["counts"] == {
            "success": 0,
            "not_found": 1,
            "invalid_checkpoint": 3,
            "in_progress": 0,
            "error": 0,
        }
        assert status_now["last"]["error"]["type"] == "invalid_checkpoint"
        metrics = client.get("/metrics").text
        assert reload_count(metrics, "not_found") == 1 and reload_count(metrics, "invalid_checkpoint") == 3
    failures = [r for r in caplog.records if r.getMessage().startswith("router reload failed")]
    assert len(failures) == 4 and all(r.levelno == logging.ERROR for r in failures)


def test_reloads_are_disabled_without_an_admin_key(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        r = gw.client.post("/v1/admin/reload", json={}, headers=ADMIN)
        assert r.status_code == 403 and "admin_key" in r.json()["error"]["message"]


async def test_the_load_runs_off_the_event_loop_and_one_at_a_time(tmp_path: Path) -> None:
    """While a (slow) load runs on its thread the old router keeps answering, a second reload is
    a 409, and requests in flight all succeed."""
    gate, entered = threading.Event(), threading.Event()
    old, new = FakeEngine(0.0, 0.4), FakeEngine(0.6, 1.0)

    def slow_loader(path: Path | None) -> PredictorPort:
        entered.set()
        assert gate.wait(10)
        return new

    settings = gateway_settings(router={"checkpoint": str(tmp_path)}, security={"admin_key": ADMIN_KEY})
    edge, cloud = FakeWorker("tiny-edge", delay_s=0.05), FakeWorker("tiny-cloud", delay_s=0.05)
    app = create_app(
        settings, engine=old, workers={"edge": edge.client(), "cloud": cloud.client()}, engine_loader=slow_loader
    )
    service = app.state.dispatcher
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            reload = asyncio.ensure_future(client.post("/v1/admin/reload", headers=ADMIN))
            assert await asyncio.to_thread(entered.wait, 5)
            in_flight = [asyncio.ensure_future(client.post("/generate", json={"prompt": f"p{i}"})) for i in range(8)]
            routed = (await client.post("/v1/route", json={"prompts": PROMPTS})).json()["decisions"]
            assert all(d["prs"] < 0.4 for d in routed)  # the old router answers during the load
            busy = await client.post("/v1/admin/reload", headers=ADMIN)
            assert busy.status_code == 409 and busy.json()["error"]["type"] == "reload_in_progress"
            gate.set()
            assert (await reload).status_code == 200
            assert all(r.status_code == 200 for r in await asyncio.gather(*in_flight))
            routed = (await client.post("/v1/route", json={"prompts": PROMPTS})).json()["decisions"]
            assert all(d["prs"] >= 0.6 for d in routed)
            assert service.predictor is new and service.batcher.engine is new
    finally:
        gate.set()
        await service.stop()


# ----------------------------------------------------------------------------- SIGHUP, a real process
@pytest.mark.slow
def test_sighup_reloads_a_replaced_checkpoint_folder_under_load(
    tmp_path: Path, tiny_router_dir: Path, second_router_dir: Path
) -> None:
    live_dir = tmp_path / "router"
    shutil.copytree(tiny_router_dir, live_dir)
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "127.0.0.1", "port": port, "graceful_shutdown_s": 1},
                "router": {"checkpoint": str(live_dir), "device": "cpu"},
                # no workers: /v1/route only predicts
                "tiers": {
                    "edge": {"url": "http://127.0.0.1:9", "model": "e"},
                    "cloud": {"url": "http://127.0.0.1:9", "model": "c"},
                },
                "health": {"interval_s": 30},
                "logging": {"json_logs": True},
            }
        ),
        encoding="utf-8",
    )
    log = tmp_path / "gateway.log"
    gateway = Proc(["gateway", "--config", str(config)], log).start()
    url = f"http://127.0.0.1:{port}"
    first, second = (
        CheckpointPredictor(tiny_router_dir, device="cpu"),
        CheckpointPredictor(second_router_dir, device="cpu"),
    )
    try:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            deadline = time.monotonic() + 60
            while True:
                assert gateway.proc is not None and gateway.proc.poll() is None, log.read_text()[-3000:]
                try:
                    if client.get("/v1/router").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            assert client.get("/v1/router").json()["data_id"] == FIRST_DATA_ID

            stop = threading.Event()

            def hammer() -> list[tuple[int, list[float]]]:
                out = []
                with httpx.Client(base_url=url, timeout=10.0) as c:
                    while not stop.is_set():
                        r = c.post("/v1/route", json={"prompts": PROMPTS[:3]})
                        out.append((r.status_code, [d["prs"] for d in r.json().get("decisions", [])]))
                return out

            with ThreadPoolExecutor(4) as pool:
                load = [pool.submit(hammer) for _ in range(4)]
                time.sleep(0.3)
                # replace the folder (a complete new one renamed into place), then signal
                staged = tmp_path / "router.new"
                shutil.copytree(second_router_dir, staged)
                live_dir.rename(tmp_path / "router.old")
                staged.rename(live_dir)
                assert gateway.proc is not None
                gateway.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 20
                while client.get("/v1/router").json()["data_id"] != SECOND_DATA_ID:
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.05)
                time.sleep(0.3)
                stop.set()
                results = [r for f in load for r in f.result()]
            assert len(results) > 8 and all(status == 200 for status, _ in results)
            old_prs, new_prs = prs_of(first, PROMPTS[:3]), prs_of(second, PROMPTS[:3])
            by_old = [prs == pytest.approx(old_prs, abs=1e-5) for _, prs in results]
            by_new = [prs == pytest.approx(new_prs, abs=1e-5) for _, prs in results]
            assert all(o != n for o, n in zip(by_old, by_new, strict=True))  # each answer from one router
            assert any(by_old) and any(by_new)  # the load spanned the swap
            assert route_prs(client, PROMPTS) == pytest.approx(prs_of(second, PROMPTS), abs=1e-5)
            info = client.get("/v1/router").json()
            assert info["checkpoint"] == str(live_dir) and info["reloads"]["last"]["source"] == "sighup"

            # A broken folder and SIGHUP: logged and counted, the new router keeps serving.
            (live_dir / "model.safetensors").write_bytes(b"torn")
            gateway.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while client.get("/v1/router").json()["reloads"]["counts"]["invalid_checkpoint"] < 1:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            assert client.get("/v1/router").json()["data_id"] == SECOND_DATA_ID
            assert route_prs(client, PROMPTS) == pytest.approx(prs_of(second, PROMPTS), abs=1e-5)
            assert gateway.proc.poll() is None
    finally:
        gateway.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reloaded = [x for x in lines if x["message"] == "router reloaded"]
    assert len(reloaded) == 1 and reloaded[0]["data_id"] == SECOND_DATA_ID and reloaded[0]["source"] == "sighup"
    assert any(x["message"].startswith("router reload failed") and x["level"] == "ERROR" for x in lines)
