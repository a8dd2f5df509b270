"""Tier health: the workers' own reasons kept with the tier state, and a tier leaving or rejoining
the rotation logged (and observed) once per change, not at every check while it stays out."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from routet2i.routing.breaker import BreakerPolicy
from routet2i.routing.health import TierHealth
from routet2i.workers.errors import WorkerUnavailable
from routet2i.workers.schemas import GenerateRequest, GenerateResponse


@dataclass
class ScriptedWorker:
    """A worker whose readiness answer is ``reason`` (None: ready); ``down`` raises instead."""

    reason: str | None = None
    down: bool = False
    asked: int = 0

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        raise AssertionError("not called")

    async def ready(self) -> bool:
        return await self.why_not_ready() is None

    async def why_not_ready(self) -> str | None:
        self.asked += 1
        if self.down:
            raise WorkerUnavailable("worker http://edge.test unreachable: ConnectError: connection refused")
        return self.reason

    async def aclose(self) -> None:
        pass


@dataclass
class PlainWorker:
    """A worker with ``ready()`` only (the port's minimum)."""

    is_ready: bool = False

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        raise AssertionError("not called")

    async def ready(self) -> bool:
        return self.is_ready

    async def aclose(self) -> None:
        pass


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def _health(
    clock: Clock, changes: list[tuple[str, bool]] | None = None, **workers: ScriptedWorker | PlainWorker
) -> TierHealth:
    """Health over ``workers``; each rotation change observed is appended to ``changes``."""
    seen = changes if changes is not None else []
    policy = BreakerPolicy(failure_threshold=2, cooldown_s=5, max_cooldown_s=20)
    return TierHealth(workers, policy, clock=clock, observer=lambda tier, up: seen.append((tier, up)))


def _rotation_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "routet2i.routing.health" and "rotation" in r.getMessage()
    ]


async def test_the_workers_reason_is_kept_with_the_tier_state() -> None:
    clock = Clock()
    edge = ScriptedWorker(reason="the model failed to load: OSError: no file named model_index.json")
    cloud = ScriptedWorker(down=True)
    health = _health(clock, edge=edge, cloud=cloud)
    await health.check_once()
    assert not health.available("edge") and not health.available("cloud")
    assert health.reason("edge") == "health check: the model failed to load: OSError: no file named model_index.json"
    assert "unreachable: ConnectError: connection refused" in str(health.reason("cloud"))
    snapshot = health.snapshot()
    assert snapshot["edge"]["not_ready_reason"] == health.reason("edge")
    assert snapshot["edge"]["checked"] and snapshot["edge"]["state"] == "open"
    # once the worker is ready and the circuit closes, there is no reason any more
    edge.reason = None
    clock.now = 10
    await health.check_once()
    assert health.available("edge") and health.reason("edge") is None
    assert health.snapshot()["edge"]["not_ready_reason"] is None


async def test_a_worker_without_reasons_still_says_not_ready() -> None:
    clock = Clock()
    health = _health(clock, edge=PlainWorker(is_ready=False))
    await health.check_once()
    assert health.reason("edge") == "health check: the worker is not ready"


async def test_out_of_rotation_is_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="routet2i.routing.health")
    clock, changes = Clock(), list[tuple[str, bool]]()
    edge = ScriptedWorker(reason="the model is still loading")
    health = _health(clock, changes, edge=edge)
    # a check every 10 s for a minute: each finds the circuit half-open (cooldown over), tries,
    # and opens it again; the tier never came back, so that is one change, logged once
    for _ in range(6):
        await health.check_once()
        clock.now += 10
    assert edge.asked == 6
    assert _rotation_lines(caplog) == ["tier edge is out of rotation: health check: the model is still loading"]
    assert changes == [("edge", False)]

    edge.reason = None
    for _ in range(3):
        await health.check_once()
        clock.now += 10
    assert _rotation_lines(caplog)[1:] == ["tier edge is back in rotation"]
    assert changes == [("edge", False), ("edge", True)]

    # requests failing it again take it out again: logged once more, with the request's error
    health.record_failure("edge", WorkerUnavailable("model not loaded"))
    health.record_failure("edge", WorkerUnavailable("model not loaded"))
    assert _rotation_lines(caplog)[2:] == ["tier edge is out of rotation: WorkerUnavailable: model not loaded"]
    assert changes[2:] == [("edge", False)]


async def test_a_worker_that_does_not_answer_in_time_says_so() -> None:
    class Hanging(ScriptedWorker):
        async def why_not_ready(self) -> str | None:
            await asyncio.sleep(10)
            return None

    health = TierHealth({"edge": Hanging()}, BreakerPolicy(failure_threshold=1, cooldown_s=5), timeout_s=0.05)
    await health.check_once()
    assert health.reason("edge") == "health check: no answer within 0.05 s (TimeoutError)"
    assert (
        health.snapshot()["edge"]["last_error"] == "WorkerTimeout: health check: no answer within 0.05 s (TimeoutError)"
    )
