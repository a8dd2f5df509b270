"""Micro-batching of router predictions: one model thread, batches that grow with load."""

from __future__ import annotations

import asyncio
import time

import pytest

from routet2i.routing.batcher import MicroBatcher
from routet2i.types import Prediction
from tests.gateway.doubles import FakeEngine, prompt_prs


class SlowEngine(FakeEngine):
    """Takes 5 ms per batch, like a small model on a CPU."""

    def predict(self, prompts: list[str]) -> list[Prediction]:
        time.sleep(0.005)
        return super().predict(prompts)


async def test_concurrent_requests_share_batches_on_one_thread() -> None:
    engine = SlowEngine()
    batcher = MicroBatcher(engine, max_batch=16, max_wait_ms=2)
    await batcher.start()
    try:
        prompts = [f"prompt number {i}" for i in range(64)]
        results = await asyncio.gather(*(batcher.predict([p]) for p in prompts))
    finally:
        await batcher.stop()
    assert [r[0].prs for r in results] == [prompt_prs(p) for p in prompts]  # each caller gets its own
    assert sum(engine.batches) == 64 and max(engine.batches) == 16
    assert len(engine.batches) <= 8  # far fewer passes than requests
    assert len(engine.threads) == 1 and next(iter(engine.threads)).startswith("routet2i-router")


async def test_a_lone_request_does_not_wait_for_company() -> None:
    engine = FakeEngine()
    batcher = MicroBatcher(engine, max_batch=64, max_wait_ms=60_000)
    await batcher.start()
    try:
        for _ in range(3):
            [pred] = await asyncio.wait_for(batcher.predict(["prs=0.25 a"]), 10)
            assert pred.prs == 0.25
    finally:
        await batcher.stop()
    assert engine.batches == [1, 1, 1]


async def test_a_multi_prompt_call_keeps_its_order_and_errors_reach_every_caller() -> None:
    engine = FakeEngine()
    batcher = MicroBatcher(engine, max_batch=4)
    await batcher.start()
    try:
        preds = await batcher.predict(["prs=0.1 a", "prs=0.2 b", "prs=0.3 c", "prs=0.4 d", "prs=0.5 e"])
        assert [p.prs for p in preds] == [0.1, 0.2, 0.3, 0.4, 0.5]
        engine.fail = True
        outcomes = await asyncio.gather(batcher.predict(["x"]), batcher.predict(["y"]), return_exceptions=True)
        assert all(isinstance(o, RuntimeError) for o in outcomes)
    finally:
        await batcher.stop()
    with pytest.raises(RuntimeError, match="not running"):
        await batcher.predict(["z"])
