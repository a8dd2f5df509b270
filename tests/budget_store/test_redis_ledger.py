"""What only a shared ledger has: several gateways on one budget, reservations that expire, a
store that goes away and comes back, one policy for all. A real ``redis-server`` throughout."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from routet2i.bench.replicas import max_in_any_window
from routet2i.budget_store.factory import build_ledger
from routet2i.budget_store.redis_ledger import RedisLedger
from routet2i.budget_store.settings import BudgetSettings
from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.budget import BudgetPolicy
from routet2i.routing.tiers import Tiers
from routet2i.testing.redis_server import RedisServer
from routet2i.types import CLOUD, EDGE

MakeLedger = Callable[..., RedisLedger]

#: The tiers block of a minimal gateway config file.
TIERS = "tiers:\n  edge: {model: e}\n  cloud: {model: c}\n"


@pytest.fixture
async def make_ledger(redis_server: RedisServer) -> AsyncIterator[MakeLedger]:
    """Ledgers on one fresh prefix (so the ledgers of one test share a budget, as gateways do)."""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    made: list[RedisLedger] = []

    def make(policy: BudgetPolicy | None = None, **kwargs: object) -> RedisLedger:
        kwargs.setdefault("url", redis_server.url)
        ledger = RedisLedger(policy or BudgetPolicy(), prefix=prefix, **kwargs)  # type: ignore[arg-type]
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        await ledger.aclose()


async def keys(url: str, prefix: str) -> set[str]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return {k.split("}:", 1)[1] async for k in client.scan_iter(match=f"{{{prefix}}}:*")}
    finally:
        await client.aclose()


async def test_three_gateways_never_pass_the_shared_caps_together(
    make_ledger: MakeLedger, redis_server: RedisServer
) -> None:
    policy = BudgetPolicy(cloud_share=0.3, window=50, warmup=20, money_per_period=60.0, period_s=3600)
    gateways = [make_ledger(policy) for _ in range(3)]
    for g in gateways:
        await g.start()
    rng = random.Random(0)
    sem = asyncio.Semaphore(48)
    decided: dict[int, str] = {}  # ticket → tier, or released (it produced nothing)

    async def one(i: int) -> None:
        async with sem:
            ledger = gateways[i % 3]
            v = await ledger.reserve(rng.random(), now=0.0, cheap_cost=0.01, expensive_cost=0.5)
            decided[v.ticket] = v.tier
            await asyncio.sleep(rng.random() * 0.005)  # the worker call
            if rng.random() < 0.1:
                await ledger.release(v.ticket, now=0.0)  # it failed: nothing produced
                decided[v.ticket] = "released"
            await ledger.settle(v.ticket)

    await asyncio.gather(*(one(i) for i in range(600)))
    in_order = [decided[t] for t in sorted(decided)]  # by ticket: the order of the reservations
    assert max_in_any_window(in_order, 50) <= 15  # ⌊0.3 · 50⌋, over every window of all three
    state = await gateways[1].state(0.0)
    assert state.decisions_total == 600 and state.spent_in_period <= 60.0 + 1e-9
    assert state.cloud_in_window <= 15 and in_order.count(CLOUD) > 0
    left = await keys(redis_server.url, gateways[0]._key.strip("{}"))
    assert not [k for k in left if k.startswith("o:")]  # every reservation settled or released


async def test_a_dead_gateways_reservations_expire_and_still_count(
    make_ledger: MakeLedger, redis_server: RedisServer
) -> None:
    policy = BudgetPolicy(cloud_share=None, money_per_period=10.0)
    dead, alive = make_ledger(policy, reservation_ttl_s=0.3), make_ledger(policy)
    await dead.start()
    await alive.start()
    v = await dead.reserve(0.1, now=0.0, cheap_cost=0.0, expensive_cost=6.0)
    assert v.tier == CLOUD
    prefix = dead._key.strip("{}")
    assert f"o:{v.ticket}" in await keys(redis_server.url, prefix)
    await asyncio.sleep(0.5)  # the gateway never settles: it died
    assert not [k for k in await keys(redis_server.url, prefix) if k.startswith("o:")]
    # the image may have been made: its cost stays in the period, so the other gateway stays within budget
    capped = await alive.reserve(0.1, now=0.0, expensive_cost=6.0)
    assert (capped.tier, capped.cap) == (EDGE, "money")
    # a late step on the expired reservation changes nothing
    assert not await dead.reassign(v.ticket, CLOUD, now=0.0, cost=1.0)
    await dead.release(v.ticket, now=0.0)
    await dead.settle(v.ticket)
    assert (await alive.state(0.0)).spent_in_period == pytest.approx(6.0)


async def test_the_ledger_fails_closed_without_redis_and_recovers_by_itself() -> None:
    server = RedisServer().start()
    ledger = RedisLedger(BudgetPolicy(cloud_share=0.5, window=10), url=server.url, prefix="closed", retry_s=0.2)
    try:
        await ledger.start()
        first = await ledger.reserve(0.01, now=0.0, expensive_cost=1.0)
        assert first.tier == CLOUD
        server.stop(kill=True)
        cloudy = await ledger.reserve(0.01, now=0.0, expensive_cost=1.0)
        assert (cloudy.tier, cloudy.cap, cloudy.ticket) == (EDGE, "store", -1)
        forced = await ledger.reserve(None, now=0.0, forced=CLOUD)
        assert (forced.tier, forced.cap) == (EDGE, "store")
        assert (await ledger.reserve(0.9, now=0.0)).tier == EDGE and (await ledger.reserve(0.9, now=0.0)).cap is None
        assert (await ledger.reserve_shadow(CLOUD, 1.0, now=0.0, max_images=9)).refused == "budget_unavailable"
        assert not await ledger.reassign(first.ticket, CLOUD, now=0.0, cost=1.0)
        assert await ledger.reassign(first.ticket, EDGE, now=0.0, cost=0.0)
        await ledger.settle(first.ticket)  # nothing raised: the TTL closes it
        state = await ledger.state(0.0)
        assert not state.store_available and state.store_errors >= 1 and state.store == "redis"
        server.start()  # back, empty (no persistence)
        await asyncio.sleep(0.3)
        back = await ledger.reserve(0.01, now=0.0, expensive_cost=1.0)
        assert back.tier == CLOUD and back.ticket >= 0
        state = await ledger.state(0.0)
        assert state.store_available and state.window_requests == 1  # the window started anew
        assert state.cloud_share == 0.5  # the policy was seeded again
    finally:
        await ledger.aclose()
        server.stop()


async def test_one_policy_for_all_gateways(make_ledger: MakeLedger) -> None:
    a = make_ledger(BudgetPolicy(cloud_share=0.3))
    await a.start()
    await a.update_policy(cloud_share=0.1)
    b = make_ledger(BudgetPolicy(cloud_share=0.3))  # same config: the operator's change stays
    await b.start()
    assert b.policy.cloud_share == 0.1
    await b.update_policy(window=200)
    assert (await a.state(0.0)).window == 200 and a.policy.window == 200
    c = make_ledger(BudgetPolicy(cloud_share=0.25))  # a changed config: it takes over
    await c.start()
    assert (await a.state(0.0)).cloud_share == 0.25
    with pytest.raises(ValueError, match="cloud_share"):
        await a.update_policy(cloud_share=2.0)
    assert (await c.state(0.0)).cloud_share == 0.25


def test_settings_pick_the_store_and_keep_secrets_out_of_urls() -> None:
    assert build_ledger(BudgetSettings(), None, Tiers(), request_timeout_s=10) is None
    shared = build_ledger(BudgetSettings(store="redis"), None, Tiers(), request_timeout_s=10)
    assert isinstance(shared, RedisLedger) and shared._ttl_ms == 40_000
    with pytest.raises(ValueError, match="REDIS_PASSWORD"):
        BudgetSettings(store="redis", redis_url="redis://:hunter2@db:6379/0")
    with pytest.raises(ValueError, match="redis_url"):
        BudgetSettings(store="redis", redis_url="http://db:6379")
    assert "hunter2" not in repr(BudgetSettings(store="redis", redis_password="hunter2"))


def test_the_redis_password_comes_from_the_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"{TIERS}budget:\n  store: redis\n  redis_password: hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD"):
        GatewaySettings.load(config)
    config.write_text(f"{TIERS}budget:\n  store: redis\n", encoding="utf-8")
    monkeypatch.setenv("ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD", "hunter2")
    password = GatewaySettings.load(config).budget.redis_password
    assert password is not None and password.get_secret_value() == "hunter2"
