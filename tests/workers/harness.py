"""Test harness: serve an ASGI app with uvicorn on 127.0.0.1 (random port) in a thread, and
build worker settings for the tiny pipelines."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from routet2i.config import validate_or_explain
from routet2i.workers.settings import WorkerSettings


class ServerThread:
    """``uvicorn`` serving ``app`` on a real socket in a background thread; ``config``: more
    ``uvicorn.Config`` options (``log_config=None`` keeps the logging the test set up)."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "timeout_graceful_shutdown": 5, **config}
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_settings(model: str | Path, **overrides: Any) -> WorkerSettings:
    """Settings for a tiny pipeline folder: CPU, fp32, 64 px defaults, 2 steps, no guidance."""
    data: dict[str, Any] = {
        "backend": "diffusers",
        "model": str(model),
        "name": "tiny",
        "diffusers": {"device": "cpu", "dtype": "float32", "cpu_threads": 1},
        "defaults": {"width": 64, "height": 64, "steps": 2, "guidance_scale": 0.0},
        "limits": {
            "min_size": 32,
            "max_width": 128,
            "max_height": 128,
            "max_pixels": 128 * 128,
            "max_steps": 4,
            "max_n": 4,
            "max_prompt_chars": 200,
            "max_body_bytes": 4096,
        },
        "batching": {"enabled": True, "max_batch_images": 8, "max_wait_ms": 5},
        "queue": {"max_pending": 16, "default_timeout_s": 60},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return validate_or_explain(WorkerSettings, data, "tests")


def wait_ready(url: str, timeout: float = 60) -> None:
    """Poll ``GET /readyz`` until 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s")
