"""Shadow pairs through the gateway: the ``learning`` settings, both generation endpoints, the
shadow store read back with the pipeline's manifest reader, the budget and metrics lines; and end
to end over sockets, clients answered while their shadow generations hang in a stopped worker."""

from __future__ import annotations

import base64
import io
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from routet2i.bench.processes import ManagedProcess, free_port, routet2i_argv
from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings
from routet2i.pipeline.manifest import ManifestEntry, read_manifest
from tests.gateway.conftest import MakeGateway, tiny_worker_config


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def lines(manifest: Path) -> int:
    return len(manifest.read_text(encoding="utf-8").splitlines()) if manifest.is_file() else 0


def pairs_of(entries: list[ManifestEntry]) -> dict[str, dict[str, ManifestEntry]]:
    """pair id → role (served / shadow) → its entry."""
    out: dict[str, dict[str, ManifestEntry]] = {}
    for e in entries:
        out.setdefault(str(e.extra["pair_id"]), {})[str(e.extra["role"])] = e
    return out


def test_shipped_config_has_shadowing_off_and_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GatewaySettings.load()
    assert settings.learning.shadow.shadow_rate == 0 and settings.learning.store == Path("runs/shadow")
    assert settings.dispatch_config().shadow == settings.learning.shadow
    monkeypatch.setenv("ROUTET2I_GATEWAY_LEARNING__SHADOW__SHADOW_RATE", "0.25")
    assert GatewaySettings.load().learning.shadow.shadow_rate == 0.25
    with pytest.raises(ConfigError, match=r"learning\.shadow\.uncertain_only"):
        GatewaySettings.load(None, learning={"shadow": {"uncertain_only": 2}})


def test_both_endpoints_are_shadowed_into_the_store(make_gateway: MakeGateway, tmp_path: Path) -> None:
    store = tmp_path / "shadow"
    learning = {"shadow": {"shadow_rate": 1.0, "seed": 0}, "store": str(store)}
    with make_gateway(learning=learning) as gw:
        native = gw.client.post("/generate", json={"prompt": "prs=0.9 a red fox", "seed": 11})
        openai = gw.client.post(
            "/v1/images/generations", json={"prompt": "a blue bird", "model": "tiny-cloud", "size": "64x64"}
        )
        assert native.status_code == 200 and openai.status_code == 200
        assert native.json()["routing"]["tier"] == "edge"
        wait_for(lambda: lines(store / "manifest.jsonl") == 4, 10, "two shadow pairs")
        budget = gw.client.get("/v1/budget").json()
        metrics = gw.client.get("/metrics").text

    pairs = pairs_of(read_manifest(store / "manifest.jsonl"))
    by_prompt = {p["served"].prompt: p for p in pairs.values()}
    fox, bird = by_prompt["prs=0.9 a red fox"], by_prompt["a blue bird"]
    assert (fox["served"].extra["tier"], fox["shadow"].extra["tier"]) == ("edge", "cloud")
    assert (fox["served"].model, fox["shadow"].model) == ("tiny-edge", "tiny-cloud")
    assert fox["served"].seed == fox["shadow"].seed == 11
    assert fox["shadow"].extra["prs"] == pytest.approx(0.9) and fox["shadow"].extra["checkpoint"] == "fake"
    assert (bird["served"].extra["tier"], bird["shadow"].extra["tier"]) == ("cloud", "edge")
    assert bird["served"].extra["reason"] == "forced"
    for pair in (fox, bird):
        for entry in pair.values():
            assert entry.image.read_bytes().startswith(b"\x89PNG")
    assert gw.cloud.calls == 2 and gw.edge.calls == 2

    assert budget["shadow_spent"] == pytest.approx(0.02) and budget["shadow_images"] == 2
    assert budget["spent_in_period"] == pytest.approx(0.02) and budget["cloud_in_window"] == 1
    assert budget["shadow"]["enabled"] and budget["shadow"]["counts"] == {"written": 2}
    assert 'routet2i_gateway_shadow_pairs_total{outcome="written",tier="cloud"} 1.0' in metrics
    assert 'routet2i_gateway_shadow_skipped_total{reason="money"} 0.0' in metrics
    assert "routet2i_gateway_budget_shadow_spent 0.02" in metrics


def test_without_a_learning_block_nothing_is_shadowed(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        assert gw.client.post("/generate", json={"prompt": "prs=0.9 a red fox"}).status_code == 200
        budget = gw.client.get("/v1/budget").json()
        assert not budget["shadow"]["enabled"] and budget["shadow_images"] == 0
        assert gw.service.shadower.sink is None and gw.cloud.calls == 0


# ------------------------------------------------------------------------------------------------
# End to end over sockets: the gateway process with shadowing on, in front of two worker processes.

API_KEY = "shadow-e2e-key"


@dataclass
class Stack:
    gateway: str
    cloud: ManagedProcess
    store: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_router_dir: Path, tiny_sd_dir: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("shadow-e2e")
    ports = {name: free_port() for name in ("edge", "cloud", "gateway")}
    procs: dict[str, ManagedProcess] = {}
    for tier in ("edge", "cloud"):
        cfg = tmp / f"{tier}.yaml"
        cfg.write_text(yaml.safe_dump(tiny_worker_config(tiny_sd_dir, f"tiny-{tier}", ports[tier])), encoding="utf-8")
        procs[tier] = ManagedProcess(tier, routet2i_argv("worker", "--config", str(cfg)), tmp / f"{tier}.log")
    gw_cfg = tmp / "gateway.yaml"
    gw_cfg.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "127.0.0.1", "port": ports["gateway"], "graceful_shutdown_s": 1},
                "router": {"checkpoint": str(tiny_router_dir), "device": "cpu"},
                "tiers": {
                    tier: {
                        "url": f"http://127.0.0.1:{ports[tier]}",
                        "model": f"tiny-{tier}",
                        "timeout_s": 30,
                        "price": {"per_image": 0.01 if tier == "cloud" else 0.0},
                    }
                    for tier in ("edge", "cloud")
                },
                "budget": {"cloud_share": 0.5, "money_per_period": 100.0, "window": 50, "warmup": 1000},
                "limits": {"min_size": 32, "default_width": 64, "default_height": 64, "request_timeout_s": 30},
                # slow health checks: a worker stopped for a few seconds stays in rotation
                "health": {"interval_s": 2.0, "timeout_s": 1.0, "failure_threshold": 10, "cooldown_s": 1.0},
                "security": {"api_keys": [API_KEY]},
                "learning": {
                    "shadow": {"shadow_rate": 1.0, "seed": 0, "max_concurrent": 8, "busy_at": 64},
                    "store": str(tmp / "shadow"),
                },
            }
        ),
        encoding="utf-8",
    )
    procs["gateway"] = ManagedProcess("gateway", routet2i_argv("gateway", "--config", str(gw_cfg)), tmp / "gw.log")
    for proc in procs.values():
        proc.start()
    try:
        for name, proc in procs.items():
            proc.wait_ready(f"http://127.0.0.1:{ports[name]}")
        gw = f"http://127.0.0.1:{ports['gateway']}"

        def in_rotation() -> bool:  # both tiers checked and closed
            tiers = httpx.get(f"{gw}/readyz", timeout=2.0).json()["tiers"]
            return all(tiers[t]["state"] == "closed" and tiers[t]["checked"] for t in ("edge", "cloud"))

        wait_for(in_rotation, 60, "both tiers in rotation")
        yield Stack(gw, procs["cloud"], tmp / "shadow")
    finally:
        cloud = procs["cloud"].proc
        if cloud is not None and cloud.poll() is None:
            cloud.send_signal(signal.SIGCONT)  # never leave a stopped process behind
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.stop()


def png_size(b64: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        return im.size


@pytest.mark.slow
def test_clients_are_answered_while_their_shadows_hang_over_sockets(stack: Stack) -> None:
    manifest = stack.store / "manifest.jsonl"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    prompts = [f"a lighthouse at dusk, number {i}" for i in range(3)]
    assert stack.cloud.proc is not None
    stack.cloud.proc.send_signal(signal.SIGSTOP)  # the cloud worker takes connections but never answers
    answered = 0  # clients answered while every shadow generation so far hangs: none waited for one
    try:
        with httpx.Client(base_url=stack.gateway, headers=auth, timeout=20.0) as client:
            for i, prompt in enumerate(prompts):
                r = client.post("/generate", json={"prompt": prompt, "route": "edge", "seed": 100 + i})
                assert r.status_code == 200, r.text
                assert r.json()["routing"]["tier"] == "edge" and png_size(r.json()["images"][0]["b64_png"]) == (64, 64)
                answered += 1
            budget = client.get("/v1/budget").json()
        # no shadow generation could finish meanwhile: the cloud worker is stopped
        assert answered == len(prompts) and budget["shadow"]["running"] == 3 and lines(manifest) == 0
    finally:
        stack.cloud.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: lines(manifest) == 6, 60, "three shadow pairs")

    pairs = pairs_of(read_manifest(manifest))
    assert sorted(p["served"].prompt for p in pairs.values()) == prompts
    for pair in pairs.values():
        served, shadow = pair["served"], pair["shadow"]
        assert (served.extra["tier"], served.model, shadow.extra["tier"], shadow.model) == (
            "edge",
            "tiny-edge",
            "cloud",
            "tiny-cloud",
        )
        assert served.seed == shadow.seed and served.seed in (100, 101, 102)
        assert isinstance(shadow.extra["prs"], float) and shadow.extra["checkpoint"]
        assert shadow.extra["cost"] == pytest.approx(0.01)
        assert served.image.read_bytes().startswith(b"\x89PNG") and shadow.image.read_bytes().startswith(b"\x89PNG")
    budget = httpx.get(f"{stack.gateway}/v1/budget", headers=auth, timeout=5.0).json()
    assert budget["shadow_spent"] == pytest.approx(0.03) and budget["spent_in_period"] == 0.0
    assert budget["shadow"]["counts"] == {"written": 3}
