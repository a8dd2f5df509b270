"""Fixtures for the gateway's unit tests: an app over a fake router and MockTransport workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.dispatcher import Dispatcher
from tests.gateway.doubles import FakeEngine, FakeWorker


def gateway_settings(**blocks: Any) -> GatewaySettings:
    """The shipped config with test tiers, a generous budget, and the given blocks replaced."""
    data: dict[str, Any] = {
        "tiers": {
            "edge": {"url": "http://edge.test", "model": "tiny-edge", "timeout_s": 5},
            "cloud": {"url": "http://cloud.test", "model": "tiny-cloud", "timeout_s": 5, "price": {"per_image": 0.02}},
        },
        "budget": {"cloud_share": 0.5, "window": 100, "warmup": 1000},
        "health": {"interval_s": 30, "timeout_s": 1, "failure_threshold": 2, "cooldown_s": 5},
        "logging": {"json_logs": True, "log_prompts": False},
    }
    data.update(blocks)
    return GatewaySettings.load(None, **data)


@dataclass
class Gateway:
    client: TestClient
    service: Dispatcher
    engine: FakeEngine
    edge: FakeWorker
    cloud: FakeWorker
    settings: GatewaySettings


MakeGateway = Callable[..., Any]


@pytest.fixture
def make_gateway() -> Callable[..., Any]:
    """``with make_gateway(engine=..., edge_mode=..., **blocks) as gw:`` a running gateway."""

    @contextmanager
    def make(
        *, engine: FakeEngine | None = None, edge_mode: str = "ok", cloud_mode: str = "ok", **blocks: Any
    ) -> Iterator[Gateway]:
        engine = engine or FakeEngine()
        edge, cloud = FakeWorker("tiny-edge", mode=edge_mode), FakeWorker("tiny-cloud", mode=cloud_mode)
        app = create_app(
            gateway_settings(**blocks), engine=engine, workers={"edge": edge.client(), "cloud": cloud.client()}
        )
        with TestClient(app) as client:
            yield Gateway(client, app.state.dispatcher, engine, edge, cloud, app.state.settings)

    return make


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SD pipeline folder (``save_pretrained``), the model of the test workers."""
    from routet2i.testing.pipelines import save_tiny_pipeline

    return save_tiny_pipeline("sd", tmp_path_factory.mktemp("tiny-sd"))


def tiny_worker_config(model: Path, name: str, port: int = 0) -> dict[str, Any]:
    """A worker config (the YAML's contents) serving the tiny pipeline at 64 px on the CPU."""
    return {
        "backend": "diffusers",
        "model": str(model),
        "name": name,
        "warmup": False,
        "diffusers": {"device": "cpu", "dtype": "float32"},
        "defaults": {"width": 64, "height": 64, "steps": 2, "guidance_scale": 0.0},
        "limits": {"min_size": 32, "max_width": 128, "max_height": 128, "max_pixels": 16384, "max_steps": 4},
        "batching": {"enabled": True, "max_batch_images": 8, "max_wait_ms": 5},
        "queue": {"max_pending": 64, "default_timeout_s": 60},
        "server": {"host": "127.0.0.1", "port": port, "graceful_shutdown_s": 1},
    }
