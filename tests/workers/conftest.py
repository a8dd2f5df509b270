"""Fixtures of the worker tests: tiny pipelines saved in temp folders, a fake hosted images API,
and running workers (uvicorn on 127.0.0.1, random ports), one per backend, shared by the package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from routet2i.config import validate_or_explain
from routet2i.testing.pipelines import save_tiny_pipeline
from routet2i.workers.app import create_app
from routet2i.workers.settings import WorkerSettings
from tests.workers.fake_openai import API_KEY, create_fake_openai
from tests.workers.harness import ServerThread, tiny_settings, wait_ready

#: The environment variable the test configs name for the fake provider's key.
KEY_ENV = "ROUTET2I_TEST_IMAGES_KEY"

BACKENDS = ("sd", "sdxl", "sd3", "openai")


@pytest.fixture(scope="package", autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """The tiny workers run torch on one thread (``diffusers.cpu_threads: 1``, much faster on a
    busy 2-core box); give the rest of the session its thread count back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _restore_logging(restored_logging: None) -> None:
    """``routet2i worker`` run in-process (and the log tests) set up the process's logging; give
    the next test the logging it had (``restored_logging``, tests/conftest.py)."""


@pytest.fixture(scope="package")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny_pipeline("sd" | "sdxl" | "sd3")`` → a folder written by ``save_pretrained``."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = save_tiny_pipeline(kind, tmp_path_factory.mktemp(f"tiny-{kind}"))
        return made[kind]

    return get


@pytest.fixture(scope="package")
def fake_openai() -> Iterator[ServerThread]:
    """A fake OpenAI-Images provider on a real socket; ``.app.state.calls`` records requests."""
    with ServerThread(create_fake_openai()) as server:
        server.app = server.server.config.app  # type: ignore[attr-defined]
        yield server


@pytest.fixture(scope="package")
def provider_key() -> Iterator[str]:
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, API_KEY)
    yield KEY_ENV
    mp.undo()


@pytest.fixture(scope="package")
def openai_settings(fake_openai: ServerThread, provider_key: str) -> Callable[..., WorkerSettings]:
    """Settings of a hosted-API worker pointed at the fake provider (all fields mapped)."""

    def make(**api: Any) -> WorkerSettings:
        options: dict[str, Any] = {
            "base_url": f"{fake_openai.url}/v1",
            "api_key_env": provider_key,
            "sizes": {"64x64": "64x64", "96x64": "96x64", "64x96": "64x96", "128x128": "128x128"},
            "response_format": "b64_json",
            "seed_param": "seed",
            "negative_prompt_param": "negative_prompt",
            "steps_param": "steps",
            "guidance_param": "guidance_scale",
            "timeout_s": 1.0,
            "connect_timeout_s": 1.0,
        }
        options.update(api)
        base = tiny_settings("tiny").model_dump()
        base.update(backend="openai", model="fake-image-1", name="fake-image-1", warmup=False, api=options)
        base["batching"]["enabled"] = False
        return validate_or_explain(WorkerSettings, base, "tests")

    return make


@pytest.fixture(scope="package")
def worker_url(
    tiny_pipeline: Callable[[str], Path], openai_settings: Callable[..., WorkerSettings]
) -> Iterator[Callable[[str], str]]:
    """``worker_url(kind)`` → base URL of a running worker for that backend (started once)."""
    servers: dict[str, ServerThread] = {}

    def get(kind: str) -> str:
        if kind not in servers:
            settings = openai_settings() if kind == "openai" else tiny_settings(tiny_pipeline(kind))
            server = ServerThread(create_app(settings)).__enter__()
            servers[kind] = server
            wait_ready(server.url)
        return servers[kind].url

    yield get
    for server in servers.values():
        server.__exit__(None, None, None)
