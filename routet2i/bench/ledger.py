"""``routet2i bench ledger``: what the shared Redis ledger adds to one decision over the in-memory one.

One decision is what the dispatcher asks of its ledger per request: ``reserve`` (the verdict,
α from the shared sample, the atomic cap test) then ``settle``. Both ledgers get the same
decisions, rotated decision by decision so machine drift hits both alike, in one process on one
event loop; the Redis one talks to a real ``redis-server`` on loopback (started here unless
``--redis-url`` names one). Target: the Redis ledger adds < 1 ms at the median.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from routet2i.bench.stats import summary
from routet2i.routing.budget import BudgetController, BudgetPolicy
from routet2i.routing.ledger import BudgetLedger, MemoryLedger

#: The median the Redis ledger may add per decision (ms).
TARGET_ADDED_MS = 1.0


async def _decide(ledger: BudgetLedger, prs: float) -> float:
    t0 = time.perf_counter()
    verdict = await ledger.reserve(prs, now=time.monotonic(), cheap_cost=0.001, expensive_cost=0.04)
    await ledger.settle(verdict.ticket)
    return (time.perf_counter() - t0) * 1000.0


async def _bench(url: str, decisions: int, warmup: int) -> dict[str, list[float]]:
    from routet2i.budget_store.redis_ledger import RedisLedger

    policy = BudgetPolicy(cloud_share=0.3, window=1000, warmup=50, money_per_period=1000.0)
    ledgers: dict[str, BudgetLedger] = {
        "memory": MemoryLedger(BudgetController(policy)),
        "redis": RedisLedger(policy, url=url, prefix=f"bench-{uuid.uuid4().hex[:8]}"),
        # α read before every decision (budget.alpha_max_age_s: 0): two more round trips
        "redis_exact": RedisLedger(policy, url=url, prefix=f"bench-{uuid.uuid4().hex[:8]}", alpha_max_age_s=0),
    }
    for ledger in ledgers.values():
        await ledger.start()
    rng = random.Random(0)
    times: dict[str, list[float]] = {name: [] for name in ledgers}
    names = list(ledgers)
    try:
        for i in range(decisions + warmup):
            prs = rng.random()
            k = i % len(names)
            for name in [*names[k:], *names[:k]]:
                elapsed = await _decide(ledgers[name], prs)
                if i >= warmup:
                    times[name].append(elapsed)
    finally:
        for ledger in ledgers.values():
            await ledger.aclose()
    return times


def run_ledger_bench(*, decisions: int = 3000, warmup: int = 200, redis_url: str | None = None) -> dict[str, Any]:
    """Latency (ms) of one decision on each ledger, and what Redis adds at the median."""
    from routet2i.testing.redis_server import RedisServer

    server = None if redis_url else RedisServer().start()
    try:
        url = redis_url or (server.url if server else "")
        times = asyncio.run(_bench(url, decisions, warmup))
    finally:
        if server is not None:
            server.stop()
    memory, shared, exact = summary(times["memory"]), summary(times["redis"]), summary(times["redis_exact"])
    added = shared["p50"] - memory["p50"]
    return {
        "decisions": decisions,
        "redis_url": redis_url or "a redis-server started on loopback",
        "memory_ms": memory,
        "redis_ms": shared,
        "redis_exact_ms": exact,
        "added_p50_ms": added,
        "ratio_p50": shared["p50"] / memory["p50"] if memory["p50"] > 0 else float("nan"),
        "target_added_p50_ms": TARGET_ADDED_MS,
        "met": added < TARGET_ADDED_MS,
    }


def format_ledger(r: dict[str, Any]) -> str:
    m, s, x = r["memory_ms"], r["redis_ms"], r["redis_exact_ms"]
    return "\n".join(
        [
            f"budget ledger, one decision (reserve + settle), {r['decisions']} each, rotated; redis: {r['redis_url']}",
            f"  memory  p50 {m['p50']:.3f} ms  p90 {m['p90']:.3f}  p99 {m['p99']:.3f}",
            f"  redis   p50 {s['p50']:.3f} ms  p90 {s['p90']:.3f}  p99 {s['p99']:.3f}  (alpha_max_age_s 1)",
            f"  redis   p50 {x['p50']:.3f} ms  p90 {x['p90']:.3f}  p99 {x['p99']:.3f}  (alpha_max_age_s 0: exact)",
            f"  redis adds {r['added_p50_ms']:.3f} ms at the median (x{r['ratio_p50']:.1f}); "
            f"target < {r['target_added_p50_ms']:.1f} ms: {'met' if r['met'] else 'MISSED'}",
        ]
    )
