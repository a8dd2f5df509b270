"""One battery for every budget ledger: the in-memory one (the reference) and the Redis one on a
real ``redis-server`` give the same verdicts and the same state for the same steps."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from routet2i.budget_store.redis_ledger import RedisLedger
from routet2i.routing.budget import BudgetController, BudgetPolicy, Verdict
from routet2i.routing.ledger import BudgetLedger, MemoryLedger
from routet2i.testing.redis_server import RedisServer
from routet2i.types import CLOUD, EDGE


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def calibration(rho: float) -> float:
    return 0.1 + 0.5 * rho


LedgerFactory = Callable[[BudgetPolicy, Clock], BudgetLedger]


@pytest.fixture(params=["memory", "redis"])
async def make_ledger(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[LedgerFactory]:
    made: list[BudgetLedger] = []

    def make(policy: BudgetPolicy, clock: Clock) -> BudgetLedger:
        ledger: BudgetLedger
        if request.param == "memory":
            ledger = MemoryLedger(BudgetController(policy, calibration))
        else:
            ledger = RedisLedger(
                policy,
                calibration,
                url=redis_server.url,
                prefix=f"test-{uuid.uuid4().hex[:8]}",
                clock=clock,
                alpha_max_age_s=0,  # read before every decision: exactly the reference's α
            )
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        await ledger.aclose()


def shape(v: Verdict) -> tuple[Any, ...]:
    """A verdict without its ticket (each ledger numbers its own)."""
    return (v.tier, v.wanted, v.reason, round(v.threshold, 9), v.threshold_source, v.prs, v.forced, v.cap)


async def test_the_share_cap_holds_over_every_window(make_ledger: LedgerFactory) -> None:
    clock = Clock()
    ledger = make_ledger(BudgetPolicy(cloud_share=0.3, window=10, warmup=1000), clock)
    await ledger.start()
    tiers = []
    for _ in range(40):
        v = await ledger.reserve(0.05, now=clock(), cheap_cost=1.0, expensive_cost=5.0)
        await ledger.settle(v.ticket)
        tiers.append(v.tier)
        clock.t += 0.1
    assert max(tiers[i : i + 10].count(CLOUD) for i in range(31)) == 3
    state = await ledger.state(clock())
    assert (state.window_requests, state.cloud_in_window, state.cloud_left_in_window) == (10, 3, 0)
    assert state.capped_total == 28 and (await ledger.reasons()) == {"predicted": 12, "budget_cap": 28}


async def test_the_money_cap_counts_client_and_shadow_spend(make_ledger: LedgerFactory) -> None:
    clock = Clock()
    ledger = make_ledger(BudgetPolicy(cloud_share=None, money_per_period=10.0, period_s=100.0), clock)
    await ledger.start()
    first = await ledger.reserve(0.01, now=clock(), cheap_cost=1.0, expensive_cost=4.0)
    hold = await ledger.reserve_shadow(CLOUD, 4.0, now=clock(), max_images=5)
    assert first.tier == CLOUD and hold.refused is None
    capped = await ledger.reserve(0.01, now=clock(), cheap_cost=1.0, expensive_cost=4.0)
    assert (capped.tier, capped.cap) == (EDGE, "money")
    await ledger.release_shadow(hold.ticket, now=clock())  # the shadow image was not made
    assert (await ledger.reserve(0.01, now=clock(), cheap_cost=1.0, expensive_cost=1.5)).tier == CLOUD
    clock.t += 101.0  # the period slides past all of it
    state = await ledger.state(clock())
    assert state.spent_in_period == 0.0 and state.money_left == 10.0


async def test_a_fallback_to_the_expensive_tier_is_refused_over_budget(make_ledger: LedgerFactory) -> None:
    clock = Clock()
    ledger = make_ledger(BudgetPolicy(cloud_share=0.5, window=2, warmup=1000), clock)
    await ledger.start()
    a = await ledger.reserve(0.1, now=clock())
    b = await ledger.reserve(0.9, now=clock())
    assert (a.tier, b.tier) == (CLOUD, EDGE)
    assert not await ledger.reassign(b.ticket, CLOUD, now=clock(), cost=1.0)
    await ledger.release(a.ticket, now=clock())  # a produced nothing: the cloud slot is free again
    assert await ledger.reassign(b.ticket, CLOUD, now=clock(), cost=1.0)
    assert (await ledger.state(clock())).cloud_in_window == 1


async def test_the_live_threshold_is_the_shared_quantile_and_a_reload_restarts_it(make_ledger: LedgerFactory) -> None:
    clock = Clock()
    ledger = make_ledger(BudgetPolicy(cloud_share=0.2, window=100, warmup=20), clock)
    await ledger.start()
    for i in range(40):
        await ledger.settle((await ledger.reserve(i / 40, now=clock())).ticket)
    alpha, source = await ledger.threshold(clock())
    assert source == "live" and 0.0 < alpha <= 0.5
    await ledger.recalibrate(calibration)
    assert await ledger.threshold(clock()) == (pytest.approx(calibration(0.2)), "calibration")


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_random_steps_give_the_same_verdicts_and_state(redis_server: RedisServer, seed: int) -> None:
    """The Redis ledger against the reference on a random mix of every step."""
    rng = random.Random(seed)
    clock = Clock()
    policy = BudgetPolicy(cloud_share=0.3, money_per_period=15.0, period_s=50.0, window=25, warmup=8)
    memory = MemoryLedger(BudgetController(policy, calibration))
    shared = RedisLedger(
        policy,
        calibration,
        url=redis_server.url,
        prefix=f"diff-{seed}-{uuid.uuid4().hex}",
        clock=clock,
        alpha_max_age_s=0,  # read before every decision: exactly the reference's α
    )
    await shared.start()
    open_tickets: list[tuple[int, int]] = []
    shadows: list[tuple[int, int]] = []
    seen: set[object] = set()  # what the run went through, so it cannot pass by exercising nothing
    try:
        for step in range(600):
            op = rng.random()
            now = clock()
            if op < 0.55:
                prs = None if rng.random() < 0.05 else rng.random()
                forced = rng.choice([None] * 8 + [CLOUD, EDGE])
                cheap, expensive = rng.choice([0.1, 0.2]), rng.choice([1.0, 2.0, 3.0])
                kw: dict[str, Any] = {"cheap_cost": cheap, "expensive_cost": expensive, "forced": forced}
                sample = rng.random() > 0.05
                a = await memory.reserve(prs, now=now, sample=sample, **kw)
                b = await shared.reserve(prs, now=now, sample=sample, **kw)
                assert shape(a) == shape(b), step
                seen.update({a.cap, a.threshold_source})
                open_tickets.append((a.ticket, b.ticket))
            elif op < 0.65 and open_tickets:
                a_t, b_t = open_tickets.pop(rng.randrange(len(open_tickets)))
                tier = rng.choice([CLOUD, EDGE])
                cost = rng.choice([0.1, 2.0])
                moved = await memory.reassign(a_t, tier, now=now, cost=cost)
                assert moved == await shared.reassign(b_t, tier, now=now, cost=cost), step
                seen.add(("moved", moved))
                open_tickets.append((a_t, b_t))
            elif op < 0.72 and open_tickets:
                a_t, b_t = open_tickets.pop(rng.randrange(len(open_tickets)))
                await memory.release(a_t, now=now)
                await shared.release(b_t, now=now)
                await memory.settle(a_t)
                await shared.settle(b_t)
            elif op < 0.85 and open_tickets:
                a_t, b_t = open_tickets.pop(rng.randrange(len(open_tickets)))
                await memory.settle(a_t)
                await shared.settle(b_t)
            elif op < 0.92:
                kw = {"now": now, "max_images": 12, "keep_share": 0.2}
                ha = await memory.reserve_shadow(CLOUD, 1.0, **kw)
                hb = await shared.reserve_shadow(CLOUD, 1.0, **kw)
                assert ha.refused == hb.refused, step
                seen.add(("shadow", ha.refused))
                if ha.refused is None:
                    shadows.append((ha.ticket, hb.ticket))
            elif op < 0.95 and shadows:
                a_t, b_t = shadows.pop()
                await memory.release_shadow(a_t, now=now)
                await shared.release_shadow(b_t, now=now)
            elif op < 0.97:
                change = rng.choice(
                    [{"window": w} for w in (15, 25, 40)] + [{"money_per_period": m} for m in (15.0, None)]
                )
                await memory.update_policy(**change)
                await shared.update_policy(**change)
            elif op < 0.98:
                await memory.recalibrate(calibration)
                await shared.recalibrate(calibration)
            clock.t += rng.choice([0.05, 0.5, 2.0])
            sa, sb = (await memory.state(clock())).as_dict(), (await shared.state(clock())).as_dict()
            for key in ("store", "store_available", "store_errors"):
                sa.pop(key), sb.pop(key)
            assert sb == pytest.approx(sa, abs=1e-9), step
        assert await memory.reasons() == await shared.reasons()
        assert {"share", "money", "live", "calibration", ("moved", False), ("shadow", "money")} <= seen
    finally:
        await shared.aclose()
