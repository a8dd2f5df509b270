"""The generation run against scripted workers (a real WorkerClient over an httpx mock transport):
retries, errors.jsonl, non-retryable refusals, broken images, a dead tier, unseeded backends, and
a second run that makes only what is missing."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from routet2i.pipeline.manifest import read_manifest
from routet2i.pipeline.plan import plan_items
from routet2i.pipeline.run import GenerationRun, InvalidImage, RunOptions, decode_png
from routet2i.pipeline.store import RunStore
from routet2i.pipeline.tiers import TierEndpoint
from routet2i.prompts import PromptRecord
from routet2i.workers.client import WorkerClient
from routet2i.workers.schemas import QueueState, WorkerInfo

Handler = Callable[[str, dict[str, Any]], httpx.Response]


def png_b64(seed: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (seed % 256, 0, 0)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def ok(model: str, body: dict[str, Any], seed: int | None = None) -> httpx.Response:
    seed = body.get("seed", 0) if seed is None else seed
    return httpx.Response(
        200,
        json={
            "images": [{"b64_png": png_b64(seed), "seed": body.get("seed")}],
            "model": model,
            "parameters": {
                "width": body.get("width", 64),
                "height": 64,
                "steps": body.get("steps", 2),
                "guidance_scale": 0.0,
            },
            "timings": {"queue_ms": 1.0, "generate_ms": 2.0, "total_ms": 3.0, "batch_images": 1, "batch_requests": 1},
        },
    )


def error(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": kind, "message": message}}, headers=headers)


class ScriptedWorker:
    """A worker double: ``handler(prompt, body)`` answers each /v1/generate; bodies are recorded."""

    def __init__(self, tier: str, model: str, handler: Handler, *, seeded: bool = True) -> None:
        self.tier, self.model, self.handler, self.seeded = tier, model, handler, seeded
        self.bodies: list[dict[str, Any]] = []

    def endpoint(self) -> TierEndpoint:
        def respond(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            self.bodies.append(body)
            return self.handler(body["prompt"], body)

        client = WorkerClient(f"http://{self.tier}.test", transport=httpx.MockTransport(respond), retry_backoff=0)
        fields = ["prompt", "width", "height", "steps", "guidance_scale", "n"] + (["seed"] if self.seeded else [])
        info = WorkerInfo(
            model=self.model,
            backend="test",
            tier=self.tier,
            ready=True,
            defaults={"width": 64, "height": 64, "steps": 2, "guidance_scale": 0.0, "negative_prompt": None},
            limits={},
            batching={},
            queue=QueueState(pending=0, pending_images=0, max_pending=8, running=0),
            supported_fields=fields,
        )
        return TierEndpoint(self.tier, f"http://{self.tier}.test", False, client, info)


RECORDS = [PromptRecord(f"prompt {i}", f"p{i}", "ds", fields={"Category": "c"} if i == 0 else {}) for i in range(4)]


async def run_once(
    out: Path, edge: ScriptedWorker, cloud: ScriptedWorker, seeds: list[int] | None = None, **options: Any
) -> Any:
    defaults: dict[str, Any] = {"concurrency": {"edge": 2, "cloud": 2}, "backoff_s": 0.0, "progress": False}
    defaults.update(options)
    plan = plan_items(RECORDS, seeds or [0, 1])
    endpoints = {"edge": edge.endpoint(), "cloud": cloud.endpoint()}
    try:
        with RunStore(out) as store:
            return await GenerationRun(store, plan, endpoints, RunOptions(**defaults)).run()
    finally:
        for ep in endpoints.values():
            await ep.client.aclose()


def errors_of(out: Path) -> list[dict[str, Any]]:
    path = out / "errors.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


async def test_everything_made_once_with_parameters_and_timings(tmp_path: Path) -> None:
    edge = ScriptedWorker("edge", "E", lambda p, b: ok("E", b))
    cloud = ScriptedWorker("cloud", "C", lambda p, b: ok("C", b))
    summary = await run_once(tmp_path, edge, cloud, params={"cloud": {"steps": 7}})
    assert summary.complete and summary.tiers["edge"].made == 8 and summary.tiers["cloud"].made == 8
    assert all(b["n"] == 1 and "steps" not in b for b in edge.bodies)
    assert all(b["steps"] == 7 for b in cloud.bodies)
    assert sorted((b["prompt"], b["seed"]) for b in edge.bodies) == sorted(
        (f"prompt {i}", s) for i in range(4) for s in (0, 1)
    )
    entries = read_manifest(tmp_path / "manifest.jsonl")
    assert Counter(e.model for e in entries) == {"E": 8, "C": 8}
    first = next(e for e in entries if e.prompt_id == "p0" and e.model == "C")
    assert first.extra["parameters"]["steps"] == 7
    assert first.extra["timings"]["generate_ms"] == 2.0 and first.extra["timings"]["request_ms"] > 0
    assert first.extra["prompt_fields"] == {"Category": "c"} and first.extra["attempts"] == 1
    assert errors_of(tmp_path) == []


async def test_transient_failures_are_retried_and_recorded(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()

    def flaky(prompt: str, body: dict[str, Any]) -> httpx.Response:
        calls[f"{prompt}/{body['seed']}"] += 1
        if prompt == "prompt 1" and calls[f"{prompt}/{body['seed']}"] == 1:
            return error(503, "unavailable", "model reloading")
        if prompt == "prompt 2" and body["seed"] == 0 and calls["prompt 2/0"] <= 2:
            return error(429, "overloaded", "queue full", **{"Retry-After": "0"})
        return ok("E", body)

    summary = await run_once(
        tmp_path, ScriptedWorker("edge", "E", flaky), ScriptedWorker("cloud", "C", lambda p, b: ok("C", b))
    )
    assert summary.complete and summary.tiers["edge"].attempts_failed == 4
    errors = errors_of(tmp_path)
    assert Counter((e["prompt_id"], e["error"]) for e in errors) == {
        ("p1", "WorkerUnavailable"): 2,
        ("p2", "WorkerOverloaded"): 2,
    }
    assert not any(e["final"] for e in errors)
    made = {
        (e.prompt_id, e.seed): e.extra["attempts"] for e in read_manifest(tmp_path / "manifest.jsonl") if e.model == "E"
    }
    assert made[("p2", 0)] == 3 and made[("p1", 1)] == 2 and made[("p0", 0)] == 1


async def test_refusals_are_not_retried_and_a_rerun_makes_only_the_missing(tmp_path: Path) -> None:
    refuse = {"on": True}

    def strict(prompt: str, body: dict[str, Any]) -> httpx.Response:
        if refuse["on"] and prompt == "prompt 3":
            return error(422, "invalid_request", "prompt too long")
        return ok("C", body)

    edge = ScriptedWorker("edge", "E", lambda p, b: ok("E", b))
    cloud = ScriptedWorker("cloud", "C", strict)
    summary = await run_once(tmp_path, edge, cloud, retries=5)
    assert not summary.complete and summary.tiers["cloud"].failed == 2 and summary.tiers["cloud"].made == 6
    finals = errors_of(tmp_path)
    assert sorted((e["prompt_id"], e["seed"], e["attempt"], e["final"], e["status"]) for e in finals) == [
        ("p3", 0, 1, True, 422),
        ("p3", 1, 1, True, 422),
    ]
    assert len(cloud.bodies) == 8  # no retry of a 422

    refuse["on"] = False
    edge2, cloud2 = ScriptedWorker("edge", "E", lambda p, b: ok("E", b)), ScriptedWorker("cloud", "C", strict)
    again = await run_once(tmp_path, edge2, cloud2)
    assert again.complete and again.tiers["cloud"].already_done == 6 and again.tiers["cloud"].made == 2
    assert edge2.bodies == [] and sorted(b["seed"] for b in cloud2.bodies) == [0, 1]
    keys = [(e.model, e.prompt_id, e.seed) for e in read_manifest(tmp_path / "manifest.jsonl")]
    assert len(keys) == len(set(keys)) == 16


async def test_broken_images_and_wrong_seeds_are_errors(tmp_path: Path) -> None:
    def broken(prompt: str, body: dict[str, Any]) -> httpx.Response:
        response = ok("E", body)
        data = json.loads(response.content)
        if prompt == "prompt 0":
            data["images"][0]["b64_png"] = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode()
        if prompt == "prompt 1":
            data["images"][0]["seed"] = 12345
        return httpx.Response(200, json=data)

    summary = await run_once(
        tmp_path, ScriptedWorker("edge", "E", broken), ScriptedWorker("cloud", "C", lambda p, b: ok("C", b)), retries=1
    )
    assert summary.tiers["edge"].failed == 4 and summary.tiers["edge"].made == 4
    messages = {e["prompt_id"]: e["message"] for e in errors_of(tmp_path) if e["final"]}
    assert "does not decode" in messages["p0"] and "seed 12345" in messages["p1"]
    assert all(e["error"] == "InvalidImage" for e in errors_of(tmp_path))
    # Nothing half-made is left: only the good items have files.
    files = sorted(p.name for p in (tmp_path / "images" / "edge" / "ds").iterdir())
    assert files == ["p2-0.png", "p2-1.png", "p3-0.png", "p3-1.png"]


async def test_a_dead_tier_stops_and_the_other_goes_on(tmp_path: Path) -> None:
    dead = ScriptedWorker("cloud", "C", lambda p, b: error(500, "generation_error", "CUDA out of memory"))
    summary = await run_once(
        tmp_path,
        ScriptedWorker("edge", "E", lambda p, b: ok("E", b)),
        dead,
        retries=0,
        max_consecutive_failures=3,
        concurrency={"edge": 1, "cloud": 1},
    )
    cloud = summary.tiers["cloud"]
    assert cloud.stopped is not None and "CUDA out of memory" in cloud.stopped
    assert cloud.failed == 3 and len(dead.bodies) == 3
    assert summary.tiers["edge"].made == 8 and not summary.complete


async def test_a_backend_without_seeds_gets_no_seed(tmp_path: Path) -> None:
    hosted = ScriptedWorker("cloud", "C", lambda p, b: ok("C", b, seed=0), seeded=False)
    summary = await run_once(tmp_path, ScriptedWorker("edge", "E", lambda p, b: ok("E", b)), hosted, seeds=[4])
    assert summary.complete and all("seed" not in b for b in hosted.bodies)
    cloud = [e for e in read_manifest(tmp_path / "manifest.jsonl") if e.model == "C"]
    assert {e.seed for e in cloud} == {4} and all(e.extra["worker_seed"] is None for e in cloud)


def test_decode_png_checks_the_bytes() -> None:
    assert decode_png(png_b64(3)).startswith(b"\x89PNG")
    with pytest.raises(InvalidImage, match="base64"):
        decode_png("%%%")
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="JPEG")
    with pytest.raises(InvalidImage, match="expected a PNG, got JPEG"):
        decode_png(base64.b64encode(buf.getvalue()).decode())
