"""The dispatcher on its own (no HTTP layer, no torch): one attempt plus at most one fallback, the
budget held and given back, previews that record nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from routet2i.routing.budget import BudgetController, BudgetPolicy
from routet2i.routing.dispatcher import Dispatcher
from routet2i.routing.errors import BudgetExhausted, TierFailed, TierUnavailable
from routet2i.routing.ledger import BudgetLedger
from routet2i.routing.price import Price
from routet2i.routing.request import GenerationParams
from routet2i.routing.settings import DispatchConfig, HealthOptions, RoutingOptions, TierOptions
from routet2i.workers.errors import WorkerTimeout
from tests.gateway.doubles import FakeEngine, FakeWorker


def config(*, fallback: bool = True, cloud_share: float = 0.5, **routing: Any) -> DispatchConfig:
    return DispatchConfig(
        tiers={
            "edge": TierOptions(url="http://edge.test", model="tiny-edge", timeout_s=5),
            "cloud": TierOptions(url="http://cloud.test", model="tiny-cloud", timeout_s=5, price=Price(per_image=0.02)),
        },
        default_sizes={"edge": (64, 64), "cloud": (64, 64)},
        routing=RoutingOptions(fallback=fallback, **routing),
        budget=BudgetPolicy(cloud_share=cloud_share, window=100, warmup=1000),
        health=HealthOptions(interval_s=30, timeout_s=1, failure_threshold=2, cooldown_s=5),
        request_timeout_s=10,
    )


def params(prompt: str) -> GenerationParams:
    return GenerationParams(prompt, None, None, None, None, None, None, 1)


MakeDispatcher = Callable[..., Any]


@pytest.fixture
def dispatcher_of() -> MakeDispatcher:
    @asynccontextmanager
    async def make(edge: FakeWorker, cloud: FakeWorker, **kwargs: Any) -> AsyncIterator[Dispatcher]:
        dispatcher = Dispatcher(config(**kwargs), FakeEngine(), {"edge": edge.client(), "cloud": cloud.client()})
        await dispatcher.batcher.start()  # no periodic health checks: only requests move the breakers
        try:
            yield dispatcher
        finally:
            await dispatcher.stop()

    return make


async def test_a_failed_generation_gives_its_budget_back(dispatcher_of: MakeDispatcher) -> None:
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud", mode="timeout")
    async with dispatcher_of(edge, cloud, fallback=False) as d:
        with pytest.raises(TierFailed) as failed:
            await d.generate(params("prs=0.1 a fox"), forced=None)
        assert isinstance(failed.value.error, WorkerTimeout) and failed.value.tier == "cloud"
        decision = failed.value.decision
        assert decision is not None and (decision.tier, decision.reason) == ("cloud", "predicted")
        state = await d.budget_state()
        # the cloud image did not happen: neither its share nor its price is held any more
        assert state.window_requests == 1 and state.cloud_in_window == 0 and state.spent_in_period == 0.0
        assert decision.budget.cloud_in_window == 0


async def test_a_request_falls_back_at_most_once(dispatcher_of: MakeDispatcher) -> None:
    # one timeout does not open a breaker (threshold 2): the cloud would still take a second try
    edge, cloud = FakeWorker("tiny-edge", mode="timeout"), FakeWorker("tiny-cloud", mode="timeout")
    async with dispatcher_of(edge, cloud) as d:
        with pytest.raises(TierFailed) as failed:
            await d.generate(params("prs=0.1 a fox"), forced=None)
        assert (cloud.calls, edge.calls) == (1, 1)
        decision = failed.value.decision
        assert decision is not None
        assert (decision.tier, decision.reason, decision.fallback_from, decision.fallback_cause) == (
            "edge",
            "fallback",
            "cloud",
            "timeout",
        )
        assert d.health.available("cloud") and d.health.available("edge")
        assert (await d.budget_state()).cloud_in_window == 0


async def test_preview_records_nothing(dispatcher_of: MakeDispatcher) -> None:
    async with dispatcher_of(FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")) as d:
        decisions, _, state = await d.route(["prs=0.1 a", "prs=0.9 b"])
        assert [(x.tier, x.reason, x.ticket) for x in decisions] == [
            ("cloud", "predicted", -1),
            ("edge", "predicted", -1),
        ]
        assert state.window_requests == 0 and state.decisions_total == 0 and (await d.budget_reasons()) == {}
        served = await d.generate(params("prs=0.1 a"), forced=None)
        assert served.decision.tier == "cloud" and (await d.budget_state()).window_requests == 1


async def test_forced_over_budget_is_refused_and_holds_nothing(dispatcher_of: MakeDispatcher) -> None:
    cloud = FakeWorker("tiny-cloud")
    async with dispatcher_of(FakeWorker("tiny-edge"), cloud, cloud_share=0.0) as d:
        with pytest.raises(BudgetExhausted) as refused:
            await d.generate(params("a fox"), forced="cloud")
        assert refused.value.retry_after == 1.0 and cloud.calls == 0
        assert refused.value.decision is not None and refused.value.decision.cap == "share"
        assert (await d.budget_state()).cloud_in_window == 0


async def test_no_fallback_for_a_tier_out_of_rotation_when_fallbacks_are_off(dispatcher_of: MakeDispatcher) -> None:
    edge = FakeWorker("tiny-edge")
    async with dispatcher_of(edge, FakeWorker("tiny-cloud"), fallback=False) as d:
        for _ in range(2):
            d.health.record_failure("cloud", WorkerTimeout("x"))
        with pytest.raises(TierUnavailable) as down:
            await d.generate(params("prs=0.1 a fox"), forced=None)
        assert edge.calls == 0 and down.value.retry_after is not None and down.value.retry_after >= 1
        assert (await d.budget_state()).cloud_in_window == 0


def test_the_in_memory_controller_is_a_budget_ledger() -> None:
    ledger: BudgetLedger = BudgetController(BudgetPolicy())
    assert ledger.preview(0.1, now=0).ticket == -1


async def test_a_repeated_prompt_skips_the_model_until_a_reload(dispatcher_of: MakeDispatcher) -> None:
    async with dispatcher_of(FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")) as d:
        engine = d.predictor
        assert isinstance(engine, FakeEngine)
        first, _, _ = await d.route(["prs=0.2 a red fox", "prs=0.8 b"])
        again, _, _ = await d.route(["prs=0.2   a red fox ", "prs=0.6 c"])  # whitespace variant: a hit
        assert engine.batches == [2, 1], "only the new prompt ran"
        assert again[0].prs == first[0].prs == 0.2 and again[1].prs == 0.6
        assert (d.cache.hits, d.cache.misses) == (1, 3)
        await d.generate(params("prs=0.2 a red fox"), forced=None)
        assert engine.batches == [2, 1]
        fresh = FakeEngine(0.0, 1.0)
        await d.swap_predictor(fresh)
        await d.route(["prs=0.2 a red fox"])
        assert fresh.batches == [1], "a reload empties the cache: the new router predicts"


async def test_a_forced_request_runs_no_prediction(dispatcher_of: MakeDispatcher) -> None:
    async with dispatcher_of(FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")) as d:
        engine = d.predictor
        assert isinstance(engine, FakeEngine)
        served = await d.generate(params("prs=0.9 a fox"), forced="cloud")
        assert engine.batches == [] and served.decision.prs is None
        assert (served.decision.tier, served.decision.reason) == ("cloud", "forced")
        auto = await d.generate(params("prs=0.9 a fox"), forced=None)
        assert engine.batches == [1] and auto.decision.prs == 0.9


async def test_the_cache_can_be_turned_off() -> None:
    engine = FakeEngine()
    d = Dispatcher(
        replace(config(), cache_size=0), engine, {"edge": FakeWorker("e").client(), "cloud": FakeWorker("c").client()}
    )
    await d.batcher.start()
    try:
        await d.route(["prs=0.3 x"])
        await d.route(["prs=0.3 x"])
        assert engine.batches == [1, 1] and len(d.cache) == 0
    finally:
        await d.stop()
