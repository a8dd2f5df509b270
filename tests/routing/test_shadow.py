"""Shadow pairs in the routing core: which served requests are made again on the other tier, that
the client never waits for (or fails because of) a shadow generation, and the money they spend."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from routet2i.routing.budget import BudgetController, BudgetPolicy
from routet2i.routing.dispatcher import Dispatcher, Served
from routet2i.routing.errors import BudgetExhausted
from routet2i.routing.ledger import MemoryLedger
from routet2i.routing.price import Price
from routet2i.routing.request import GenerationParams
from routet2i.routing.settings import DispatchConfig, HealthOptions, RoutingOptions, TierOptions
from routet2i.routing.shadow import ShadowImage, ShadowPair, ShadowPolicy
from routet2i.workers.errors import WorkerTimeout
from tests.gateway.doubles import FakeEngine, FakeWorker, tiny_png

CLOUD_PRICE = 0.02


class MemorySink:
    """Keeps the pairs (``fail``: raises instead)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.pairs: list[ShadowPair] = []
        self.fail = fail
        self.threads: set[str] = set()

    def write(self, pair: ShadowPair) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise OSError("disk full")
        self.pairs.append(pair)


@dataclass
class GatedWorker(FakeWorker):
    """A worker whose answers wait until ``gate`` is set (``gated`` calls are waiting now)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    gated: int = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/generate":
            self.gated += 1
            try:
                await self.gate.wait()
            finally:
                self.gated -= 1
        return await super().handle(request)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(shadow: ShadowPolicy, **budget: Any) -> DispatchConfig:
    return DispatchConfig(
        tiers={
            "edge": TierOptions(url="http://edge.test", model="tiny-edge", timeout_s=5),
            "cloud": TierOptions(
                url="http://cloud.test", model="tiny-cloud", timeout_s=5, price=Price(per_image=CLOUD_PRICE)
            ),
        },
        default_sizes={"edge": (64, 64), "cloud": (128, 128)},
        routing=RoutingOptions(forced_over_budget="reject"),
        budget=BudgetPolicy(**{"cloud_share": 0.5, "window": 100, "warmup": 1000, **budget}),
        health=HealthOptions(interval_s=30, timeout_s=1, failure_threshold=2, cooldown_s=5),
        request_timeout_s=10,
        shadow=shadow,
    )


def params(prompt: str, seed: int | None = None) -> GenerationParams:
    return GenerationParams(prompt, None, None, None, 2, None, seed, 1)


MakeDispatcher = Callable[..., Any]


@pytest.fixture
def dispatcher_of() -> MakeDispatcher:
    @asynccontextmanager
    async def make(
        shadow: ShadowPolicy,
        sink: MemorySink | None,
        *,
        edge: FakeWorker | None = None,
        cloud: FakeWorker | None = None,
        clock: Clock | None = None,
        engine: FakeEngine | None = None,
        **budget: Any,
    ) -> AsyncIterator[Dispatcher]:
        edge = edge or FakeWorker("tiny-edge")
        cloud = cloud or FakeWorker("tiny-cloud")
        dispatcher = Dispatcher(
            config(shadow, **budget),
            engine or FakeEngine(),
            {"edge": edge.client(), "cloud": cloud.client()},
            clock=clock or Clock(),
            shadow_sink=sink,
        )
        await dispatcher.batcher.start()  # no periodic health checks
        try:
            yield dispatcher
        finally:
            await dispatcher.stop()

    return make


ALWAYS = ShadowPolicy(shadow_rate=1.0, seed=0)


async def serve(d: Dispatcher, prompt: str, *, forced: str | None = None, seed: int | None = None) -> Served:
    return await d.generate(params(prompt, seed), forced=forced)


async def test_rate_zero_shadows_nothing(dispatcher_of: MakeDispatcher) -> None:
    edge, cloud, sink = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud"), MemorySink()
    async with dispatcher_of(ShadowPolicy(shadow_rate=0.0), sink, edge=edge, cloud=cloud) as d:
        for prompt in ("prs=0.9 a fox", "prs=0.1 a cat"):
            await serve(d, prompt)
        await d.shadower.drain()
        assert (edge.calls, cloud.calls) == (1, 1)
        assert sink.pairs == [] and d.shadower.counts == {}
        assert (await d.budget_state()).shadow_images == 0


async def test_every_served_request_gets_one_shadow_on_the_other_tier(dispatcher_of: MakeDispatcher) -> None:
    edge, cloud, sink = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud", png=tiny_png((1, 2, 3))), MemorySink()
    async with dispatcher_of(ALWAYS, sink, edge=edge, cloud=cloud) as d:
        on_edge = await serve(d, "prs=0.9 a fox", seed=41)
        on_cloud = await serve(d, "prs=0.1 a cat", seed=7)
        await d.shadower.drain()
        assert (on_edge.decision.tier, on_cloud.decision.tier) == ("edge", "cloud")
        assert (edge.calls, cloud.calls) == (2, 2)
        assert len(sink.pairs) == 2 and all(t != threading.main_thread().name for t in sink.threads)
        by_prompt = {p.prompt: p for p in sink.pairs}

        fox = by_prompt["prs=0.9 a fox"]
        assert (fox.live.tier, fox.live.model, fox.live.served) == ("edge", "tiny-edge", True)
        assert (fox.shadow.tier, fox.shadow.model, fox.shadow.served) == ("cloud", "tiny-cloud", False)
        assert fox.live.seed == fox.shadow.seed == fox.seed == 41
        assert fox.live.png == tiny_png() and fox.shadow.png == tiny_png((1, 2, 3))
        # the shadow request is the other tier's: its default size, the client's steps and seed, one image
        shadow_request = next(r for r in cloud.requests if r["seed"] == 41)
        assert (shadow_request["width"], shadow_request["steps"], shadow_request["n"]) == (128, 2, 1)
        assert fox.shadow.parameters["width"] == 128 and fox.live.parameters["width"] == 64
        assert fox.prs == pytest.approx(0.9) and fox.threshold == on_edge.decision.threshold
        assert fox.router["checkpoint"] == "fake" and fox.checkpoint == "fake"
        assert fox.cost == pytest.approx(CLOUD_PRICE) and fox.request["steps"] == 2

        cat = by_prompt["prs=0.1 a cat"]
        assert (cat.live.tier, cat.shadow.tier, cat.seed, cat.cost) == ("cloud", "edge", 7, 0.0)
        assert next(r for r in edge.requests if r["seed"] == 7)["width"] == 64

        state = await d.budget_state()
        # the shadow cloud image is priced on its own line, never in the cloud share window
        assert state.shadow_spent == pytest.approx(CLOUD_PRICE) and state.shadow_images == 2
        assert state.spent_in_period == pytest.approx(CLOUD_PRICE)
        assert state.cloud_in_window == 1 and state.window_requests == 2
        assert d.shadower.counts == {"written": 2}


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_no_client_waits_for_a_shadow_generation(dispatcher_of: MakeDispatcher) -> None:
    cloud, sink = GatedWorker("tiny-cloud"), MemorySink()
    async with dispatcher_of(ALWAYS, sink, cloud=cloud) as d:
        first = await asyncio.wait_for(serve(d, "prs=0.9 a fox"), 5)
        assert first.decision.tier == "edge" and d.shadower.running == 1
        await until(lambda: cloud.gated == 1)  # its shadow is now blocked in the cloud worker
        # more clients are answered while it stays blocked (their own shadows block too)
        served = [await asyncio.wait_for(serve(d, f"prs=0.9 fox {i}"), 5) for i in range(2)]
        assert [s.decision.tier for s in served] == ["edge", "edge"]
        assert d.shadower.counts == {"tier_busy": 1}  # max_concurrent 2
        await until(lambda: cloud.gated == 2)
        assert sink.pairs == [] and not cloud.gate.is_set()
        cloud.gate.set()
        await d.shadower.drain()
        assert len(sink.pairs) == 2 and d.shadower.running == 0


async def test_a_failing_shadow_generation_never_fails_the_client_and_gives_its_money_back(
    dispatcher_of: MakeDispatcher,
) -> None:
    sink = MemorySink()
    async with dispatcher_of(ALWAYS, sink, cloud=FakeWorker("tiny-cloud", mode="unavailable")) as d:
        served = await serve(d, "prs=0.9 a fox")
        assert served.decision.tier == "edge"
        await d.shadower.drain()
        state = await d.budget_state()
        assert sink.pairs == [] and d.shadower.counts == {"generate_failed": 1}
        assert state.shadow_spent == 0.0 and state.shadow_images == 1


async def test_a_failing_store_never_fails_the_client(dispatcher_of: MakeDispatcher) -> None:
    async with dispatcher_of(ALWAYS, MemorySink(fail=True)) as d:
        assert (await serve(d, "prs=0.9 a fox")).decision.tier == "edge"
        await d.shadower.drain()
        assert d.shadower.counts == {"write_failed": 1}
        # the image was made (and paid for) even though it could not be stored
        assert (await d.budget_state()).shadow_spent == pytest.approx(CLOUD_PRICE)


async def test_stop_cancels_running_shadows_and_releases_them(dispatcher_of: MakeDispatcher) -> None:
    cloud, sink = GatedWorker("tiny-cloud"), MemorySink()
    async with dispatcher_of(ALWAYS, sink, cloud=cloud) as d:
        await serve(d, "prs=0.9 a fox")
        await asyncio.sleep(0)  # the shadow task's first step holds the budget
        assert d.shadower.running == 1 and (await d.budget_state()).shadow_spent == pytest.approx(CLOUD_PRICE)
        await d.shadower.stop()
        assert d.shadower.running == 0 and d.shadower.counts == {"cancelled": 1}
        assert (await d.budget_state()).shadow_spent == 0.0 and sink.pairs == []


async def test_the_per_period_cap_holds(dispatcher_of: MakeDispatcher) -> None:
    clock, sink = Clock(), MemorySink()
    policy = ShadowPolicy(shadow_rate=1.0, max_per_period=3, seed=0)
    async with dispatcher_of(policy, sink, clock=clock, period_s=100.0) as d:
        for i in range(5):
            await serve(d, f"prs=0.9 fox {i}")
            await d.shadower.drain()
        assert len(sink.pairs) == 3 and d.shadower.counts == {"written": 3, "cap": 2}
        clock.now += 201.0  # the period has passed: shadowing resumes
        await serve(d, "prs=0.9 fox later")
        await d.shadower.drain()
        assert len(sink.pairs) == 4 and (await d.budget_state()).shadow_images == 1


@pytest.mark.parametrize("reserve", [0.0, 0.25])
async def test_shadow_and_client_spend_never_pass_the_money_cap(dispatcher_of: MakeDispatcher, reserve: float) -> None:
    cap = 10 * CLOUD_PRICE
    sink = MemorySink()
    policy = ShadowPolicy(shadow_rate=1.0, money_reserve=reserve, seed=0)
    events: list[str] = []
    async with dispatcher_of(policy, sink, cloud_share=None, money_per_period=cap) as d:
        for i in range(12):
            skipped = d.shadower.counts.get("money", 0)
            await serve(d, f"fox {i}", forced="edge")  # its shadow is a cloud image
            await d.shadower.drain()
            if d.shadower.counts.get("money", 0) > skipped:
                events.append("shadow paused")
            try:
                await serve(d, f"cat {i}", forced="cloud")
            except BudgetExhausted:
                events.append("client refused")
            await d.shadower.drain()
            state = await d.budget_state()
            assert state.spent_in_period + state.shadow_spent <= cap + 1e-9
            assert state.money_left == pytest.approx(cap - state.spent_in_period - state.shadow_spent)
        state = await d.budget_state()
        assert state.shadow_spent > 0 and state.spent_in_period > 0
        assert "client refused" in events and "shadow paused" in events
        if reserve > 0:
            # shadowing pauses first: while money is short for shadows, clients are still served
            assert events.index("shadow paused") < events.index("client refused")
            assert state.shadow_spent + state.spent_in_period == pytest.approx(cap)


async def test_only_uncertain_prompts_are_shadowed_when_asked(dispatcher_of: MakeDispatcher) -> None:
    sink = MemorySink()
    policy = ShadowPolicy(shadow_rate=1.0, uncertain_only=0.1, seed=0)
    async with dispatcher_of(policy, sink) as d:
        assert (await d.budget.threshold(0))[0] == pytest.approx(0.5)
        for prs in (0.55, 0.9, 0.45, 0.05, 0.62):
            await serve(d, f"prs={prs} a fox")
        await d.shadower.drain()
        assert sorted(p.prs for p in sink.pairs if p.prs is not None) == pytest.approx([0.45, 0.55])
        assert d.shadower.counts == {"written": 2, "certain": 3}


async def test_no_band_without_a_prediction(dispatcher_of: MakeDispatcher) -> None:
    policy = ShadowPolicy(shadow_rate=1.0, uncertain_only=0.1, seed=0)
    async with dispatcher_of(policy, MemorySink(), engine=FakeEngine(fail=True)) as d:
        await serve(d, "a fox")
        assert d.shadower.counts == {"no_prediction": 1}


async def test_the_rate_samples_a_share(dispatcher_of: MakeDispatcher) -> None:
    sink = MemorySink()
    async with dispatcher_of(ShadowPolicy(shadow_rate=0.3, seed=3), sink) as d:
        for i in range(200):
            await serve(d, f"prs=0.9 fox {i}")
            await d.shadower.drain()
        assert 40 <= len(sink.pairs) <= 80
        assert d.shadower.counts["sampled_out"] == 200 - len(sink.pairs)


async def test_shadowing_pauses_on_an_unhealthy_or_busy_tier(dispatcher_of: MakeDispatcher) -> None:
    cloud, sink = GatedWorker("tiny-cloud"), MemorySink()
    policy = ShadowPolicy(shadow_rate=1.0, max_concurrent=1, seed=0)
    async with dispatcher_of(policy, sink, cloud=cloud) as d:
        await serve(d, "prs=0.9 fox 1")  # its shadow holds the cloud worker
        await serve(d, "prs=0.9 fox 2")
        assert d.shadower.counts == {"tier_busy": 1}
        cloud.gate.set()
        await d.shadower.drain()
        for _ in range(2):  # failure_threshold 2: the cloud's circuit opens
            d.health.record_failure("cloud", WorkerTimeout("down"))
        await serve(d, "prs=0.9 fox 3")
        await d.shadower.drain()
        assert d.shadower.counts == {"tier_busy": 1, "written": 1, "tier_down": 1}
        assert len(sink.pairs) == 1


async def test_shadowing_pauses_while_the_other_tier_is_busy_with_clients(dispatcher_of: MakeDispatcher) -> None:
    cloud = GatedWorker("tiny-cloud")
    policy = ShadowPolicy(shadow_rate=1.0, busy_at=1, seed=0)
    async with dispatcher_of(policy, MemorySink(), cloud=cloud) as d:
        waiting = asyncio.create_task(serve(d, "prs=0.1 a cat"))  # a client on the cloud
        while cloud.gated == 0:
            await asyncio.sleep(0.001)
        await serve(d, "prs=0.9 a fox")
        assert d.shadower.counts == {"tier_busy": 1}
        cloud.gate.set()
        await waiting
        await d.shadower.drain()
        assert d.shadower.counts == {"tier_busy": 1, "written": 1}


def test_shadow_images_are_held_on_their_own_line() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.5, money_per_period=1.0, window=10, period_s=100))
    hold = ctl.reserve_shadow("cloud", 0.4, now=0, max_images=2)
    assert hold.refused is None and hold.ticket >= 0
    state = ctl.state(0)
    assert (state.shadow_spent, state.shadow_images, state.window_requests, state.cloud_in_window) == (0.4, 1, 0, 0)
    assert state.money_left == pytest.approx(0.6)
    # a client cloud image sees the shadow spend: 0.4 + 0.7 > 1
    assert ctl.reserve(0.0, now=0, expensive_cost=0.7).cap == "money"
    assert ctl.reserve_shadow("cloud", 0.5, now=0, max_images=2, keep_share=0.2).refused == "money"
    ctl.release_shadow(hold.ticket, now=1)
    ctl.settle_shadow(hold.ticket)
    assert ctl.state(1).shadow_spent == 0.0 and ctl.state(1).shadow_images == 1
    assert ctl.reserve_shadow("cloud", 0.5, now=1, max_images=2).refused is None
    assert ctl.reserve_shadow("cloud", 0.0, now=1, max_images=2).refused == "cap"
    assert ctl.reserve_shadow("cloud", 0.0, now=250, max_images=2).refused is None  # a new period


def test_shadow_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="shadow_rate"):
        ShadowPolicy(shadow_rate=1.5)
    with pytest.raises(ValueError, match="uncertain_only"):
        ShadowPolicy(uncertain_only=-0.1)
    assert ShadowPolicy().shadow_rate == 0.0


def test_a_pair_without_seeds_gets_a_label() -> None:
    live = ShadowImage("edge", "e", tiny_png(), None, {}, served=True)
    shadow = ShadowImage("cloud", "c", tiny_png(), None, {}, served=False)
    pair = ShadowPair("00000010ab", "p", {}, live, shadow, None, {}, 0.5, "predicted", {}, 0.0, 0.0)
    assert pair.seed == 16 and pair.checkpoint is None


class BrokenLedger(MemoryLedger):
    async def reserve_shadow(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ledger bug")


async def test_a_bug_while_deciding_never_reaches_the_client() -> None:
    ledger = BrokenLedger(BudgetController(BudgetPolicy()))
    dispatcher = Dispatcher(
        config(ALWAYS),
        FakeEngine(),
        {"edge": FakeWorker("tiny-edge").client(), "cloud": FakeWorker("tiny-cloud").client()},
        ledger=ledger,
        shadow_sink=MemorySink(),
    )
    await dispatcher.batcher.start()
    try:
        assert (await serve(dispatcher, "prs=0.9 a fox")).decision.tier == "edge"
        await dispatcher.shadower.drain()
        assert dispatcher.shadower.counts == {"error": 1} and dispatcher.shadower.running == 0
    finally:
        await dispatcher.stop()
