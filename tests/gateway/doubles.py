"""Test doubles for the gateway's unit tests: a deterministic router and scriptable workers.

The workers are the product's :class:`~routet2i.workers.client.WorkerClient` over an
``httpx.MockTransport``, so the gateway meets real HTTP status codes and bodies.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from routet2i.types import Prediction
from routet2i.workers.client import WorkerClient


def prompt_prs(prompt: str, low: float = 0.0, high: float = 1.0) -> float:
    """A deterministic pseudo-PRŜ in [low, high) from the prompt's hash, or the value a prompt
    starting with ``prs=<float> `` asks for."""
    if prompt.startswith("prs="):
        return float(prompt.split()[0][4:])
    h = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big") / 2**64
    return low + (high - low) * h


class FakeEngine:
    """PRŜ uniform on [low, high) by prompt hash; calibration assumes that distribution."""

    def __init__(self, low: float = 0.0, high: float = 1.0, *, fail: bool = False) -> None:
        self.low, self.high, self.fail = low, high, fail
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def predict(self, prompts: list[str]) -> list[Prediction]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(prompts))
        if self.fail:
            raise RuntimeError("router broken")
        out = []
        for p in prompts:
            prs = prompt_prs(p, self.low, self.high)
            out.append(Prediction(prs, {"definition": prs, "detail": min(prs + 0.1, 1.0)}))
        return out

    def calibrated_threshold(self, cloud_share: float) -> float:
        return min(self.low + cloud_share * (self.high - self.low), 0.5)

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": "fake", "metrics": ["definition", "detail"]}


def tiny_png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class FakeWorker:
    """A scriptable worker. ``mode``: ``ok``, ``overloaded`` (429), ``unavailable`` (503),
    ``timeout`` (read timeout), ``down`` (connection refused), ``invalid`` (422 on ``steps``),
    ``hang`` (never answers until cancelled)."""

    model: str
    mode: str = "ok"
    ready: bool = True
    delay_s: float = 0.0
    calls: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    png: bytes = field(default_factory=tiny_png)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/readyz", "/healthz"):
            if self.mode == "down":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200 if self.ready else 503, json={"status": "ok" if self.ready else "loading"})
        self.calls += 1
        body = json.loads(request.content)
        self.requests.append({**body, "timeout": request.headers.get("x-request-timeout")})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        mode = self.mode
        if mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if mode == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "overloaded":
            return httpx.Response(
                429, headers={"Retry-After": "7"}, json={"error": {"type": "overloaded", "message": "queue full"}}
            )
        if mode == "unavailable":
            return httpx.Response(503, json={"error": {"type": "unavailable", "message": "model not loaded"}})
        if mode == "invalid":
            return httpx.Response(
                422, json={"error": {"type": "invalid_request", "message": "steps too high", "field": "steps"}}
            )
        n = int(body.get("n", 1))
        seed = int(body.get("seed", 1234))
        b64 = base64.b64encode(self.png).decode()
        return httpx.Response(
            200,
            json={
                "images": [{"b64_png": b64, "seed": seed + i} for i in range(n)],
                "model": self.model,
                "parameters": {
                    "width": body.get("width", 512),
                    "height": body.get("height", 512),
                    "steps": body.get("steps", 1),
                    "guidance_scale": body.get("guidance_scale", 0.0),
                },
                "timings": {
                    "queue_ms": 0.1,
                    "generate_ms": 1.0,
                    "total_ms": 1.2,
                    "batch_images": n,
                    "batch_requests": 1,
                },
            },
        )

    def client(self, **kwargs: Any) -> WorkerClient:
        kwargs.setdefault("connect_retries", 0)
        return WorkerClient(f"http://{self.model}.test", transport=httpx.MockTransport(self.handle), **kwargs)


def workers_pair(edge: FakeWorker, cloud: FakeWorker) -> dict[str, WorkerClient]:
    return {"edge": edge.client(), "cloud": cloud.client()}
