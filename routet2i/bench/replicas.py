"""``routet2i bench replicas``: several gateway processes sharing one budget in Redis.

    clients ──round robin──▶ gateway 1..N (routet2i gateway, budget.store: redis) ──▶ edge worker
                                        │                                          └─▶ cloud worker
                                        └──────────── one redis-server ────────────┘

For each replica count the bench starts N gateways on the tiny router, sends ``requests``
generations at ``clients`` concurrency spread over them, and checks the shared budget:

- **the share cap over every window of the combined sequence**: the bench reads the shared
  window (``{prefix}:w`` / ``:we``, the ledger's own keys) every 20 ms while the load runs, so
  it sees every decision with its ticket (the order of the reservations across all gateways) and
  its final tier; at most ⌊ρ·window⌋ of any ``window`` consecutive ones may be cloud;
- **every decision seen** (as many tickets as answered requests), **no 5xx**;
- **nothing left open**: no reservation key once the load is over;
- with a money cap, the spend in the period stays under it.

A fault may be injected halfway: ``gateway`` (one gateway SIGKILLed; the clients stop sending to
it, as a load balancer would; its reservations expire), or ``redis`` (the redis-server killed and
started again, empty, 2 s later; the gateways fail closed, then recover). The exit code is 1 when
a check fails. On a 2-core machine the gateways and the workers share the cores, so throughput
cannot grow with replicas here; docs/SCALING.md gives the model for a GPU box.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from routet2i.bench.processes import ManagedProcess, child_env, free_port, routet2i_argv
from routet2i.bench.stack import CLIENT_KEY, build_tiny_router, build_tiny_sd, deep_merge, gateway_config, write_yaml
from routet2i.bench.stats import summary

#: Faults the bench can inject halfway through a run.
FAULTS = ("gateway", "redis")


class WindowWatcher:
    """Reads the shared window every ``interval_s`` in a thread: ticket → last tier seen (per
    Redis instance: a restarted Redis numbers its tickets anew)."""

    def __init__(self, url: str, prefix: str, interval_s: float = 0.02) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=0.5)
        self._key = "{" + prefix + "}"
        self._interval_s = interval_s
        self.seen: dict[tuple[str, int], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="window-watcher", daemon=True)

    def __enter__(self) -> WindowWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.read()  # the final tiers
        self._redis.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.read()

    def read(self) -> None:
        import redis

        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(f"{self._key}:id")
            pipe.hgetall(f"{self._key}:we")
            instance, entries = pipe.execute()
        except redis.RedisError:
            return  # Redis is away (the redis fault): nothing to read
        for ticket, entry in entries.items():
            self.seen[(str(instance), int(ticket))] = entry.split("|", 1)[0]

    def last_read(self) -> None:
        """Stop every write to Redis (``CLIENT PAUSE … WRITE``: reservations wait), then read the
        window: nothing decided before Redis is killed goes unseen."""
        self._redis.client_pause(5000, all=False)  # WRITE: reads go on
        self.read()

    def open_reservations(self) -> int:
        return sum(1 for _ in self._redis.scan_iter(match=f"{self._key}:o:*"))

    def sequences(self) -> list[list[str]]:
        """The tiers of the decisions by ticket, one list per Redis instance (in the order seen)."""
        by_instance: dict[str, list[tuple[int, str]]] = {}
        for (instance, ticket), tier in self.seen.items():
            by_instance.setdefault(instance, []).append((ticket, tier))
        return [[tier for _, tier in sorted(items)] for items in by_instance.values()]


def max_in_any_window(tiers: list[str], window: int, tier: str = "cloud") -> int:
    """The most ``tier`` decisions in any ``window`` consecutive ones (prefixes included)."""
    best = count = 0
    for i, t in enumerate(tiers):
        count += t == tier
        if i >= window:
            count -= tiers[i - window] == tier
        best = max(best, count)
    return best


async def _load(
    urls: list[str], requests: int, clients: int, fault_at: int | None, fault: Any
) -> tuple[list[dict[str, Any]], float]:
    """``requests`` generations at ``clients`` concurrency, round robin over the live ``urls``;
    ``fault()`` runs once ``fault_at`` requests have been sent and returns a URL to stop using."""
    import httpx

    live = list(urls)
    results: list[dict[str, Any]] = []
    sent = 0
    lock = asyncio.Lock()
    injected: list[asyncio.Task[None]] = []

    async def inject() -> None:  # apart from the clients: the load goes on during the fault
        dead = await asyncio.to_thread(fault)
        if dead in live:
            live.remove(dead)

    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}

    async def client(c: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        while True:
            async with lock:
                if sent >= requests:
                    return
                i = sent
                sent += 1
                if fault_at is not None and i == fault_at:
                    injected.append(asyncio.get_running_loop().create_task(inject()))
                url = live[i % len(live)]
            t0 = time.perf_counter()
            body: dict[str, Any] = {"prompt": f"a red fox in the snow, variation {i}", "seed": i}
            if i % 2:  # half the traffic asks for the cloud: more than the cap allows, so the cap binds
                body["route"] = "cloud"
            try:
                r = await http.post(f"{url}/generate", json=body, headers=headers)
                status, tier = r.status_code, r.headers.get("x-routet2i-tier")
                error = None if r.status_code == 200 else r.json().get("error", {}).get("type")
            except httpx.HTTPError as exc:
                status, tier, error = 0, None, type(exc).__name__
            results.append({"url": url, "status": status, "tier": tier, "error": error, "s": time.perf_counter() - t0})

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=120.0, limits=httpx.Limits(max_connections=clients * 2)) as http:
        await asyncio.gather(*(client(c, http) for c in range(clients)))
        await asyncio.gather(*injected)
    return results, time.perf_counter() - t0


def _gateways(
    workdir: Path, n: int, edge_url: str, cloud_url: str, router: Path, budget: dict[str, Any]
) -> list[tuple[ManagedProcess, str]]:
    out = []
    for g in range(n):
        port = free_port()
        cfg = gateway_config(edge_url, cloud_url, router, port)
        # a forced cloud request over budget is served on the edge (reason budget_cap), not refused
        cfg = deep_merge(
            cfg, {"budget": budget, "health": {"interval_s": 1.0}, "routing": {"forced_over_budget": "edge"}}
        )
        path = write_yaml(workdir / f"gateway-{n}-{g}.yaml", cfg)
        proc = ManagedProcess(
            f"gateway-{n}-{g}", routet2i_argv("gateway", "--config", str(path)), workdir / f"gateway-{n}-{g}.log"
        )
        out.append((proc.start(), f"http://127.0.0.1:{port}"))
    return out


def run_replicas_bench(
    workdir: Path,
    *,
    replicas: tuple[int, ...] = (1, 2, 3),
    requests: int = 600,
    clients: int = 48,
    cloud_share: float = 0.3,
    window: int = 100,
    money_per_period: float | None = None,
    fault: str | None = None,
) -> dict[str, Any]:
    """Runs the bench (module docstring); one result per replica count, and ``met``."""
    from routet2i.testing.demo import tiny_worker_config
    from routet2i.testing.redis_server import RedisServer

    models = workdir / "models"
    sd, router = build_tiny_sd(models), build_tiny_router(models)
    env = child_env(1)
    redis_server = RedisServer().start()
    workers = []
    try:
        urls = {}
        for tier in ("edge", "cloud"):
            port = free_port()
            cfg = deep_merge(tiny_worker_config(sd, f"tiny-{tier}", tier, max_pending=clients * 4), {})
            cfg["server"]["port"] = port
            path = write_yaml(workdir / f"{tier}.yaml", cfg)
            proc = ManagedProcess(
                tier, routet2i_argv("worker", "--config", str(path)), workdir / f"{tier}.log", env=env
            )
            workers.append((proc.start(), f"http://127.0.0.1:{port}"))
            urls[tier] = f"http://127.0.0.1:{port}"
        for proc, url in workers:
            proc.wait_ready(url, 300)
        runs = {}
        for n in replicas:
            runs[str(n)] = _one_run(
                workdir, n, urls, router, redis_server, requests, clients, cloud_share, window, money_per_period, fault
            )
    finally:
        for proc, _ in workers:
            proc.stop(5)
        redis_server.stop()
    return {
        "requests": requests,
        "clients": clients,
        "cloud_share": cloud_share,
        "window": window,
        "money_per_period": money_per_period,
        "fault": fault,
        "runs": runs,
        "met": all(r["met"] for r in runs.values()),
    }


def _one_run(
    workdir: Path,
    n: int,
    urls: dict[str, str],
    router: Path,
    redis_server: Any,
    requests: int,
    clients: int,
    cloud_share: float,
    window: int,
    money_per_period: float | None,
    fault: str | None,
) -> dict[str, Any]:
    prefix = f"bench-{n}-{uuid.uuid4().hex[:6]}"
    budget = {
        "store": "redis",
        "redis_url": redis_server.url,
        "key_prefix": prefix,
        "cloud_share": cloud_share,
        "window": window,
        "warmup": 20,
        "money_per_period": money_per_period,
        "reservation_ttl_s": 3.0,
        "redis_retry_s": 0.5,
    }
    gateways = _gateways(workdir, n, urls["edge"], urls["cloud"], router, budget)
    try:
        for proc, url in gateways:
            proc.wait_ready(url, 300)

        def inject() -> str | None:
            if fault == "gateway" and len(gateways) > 1:
                gateways[0][0].kill()
                return gateways[0][1]
            if fault == "redis":
                watcher.last_read()
                redis_server.stop(kill=True)
                time.sleep(2.0)
                redis_server.start()
            return None

        fault_at = requests // 2 if fault else None
        with WindowWatcher(redis_server.url, prefix) as watcher:
            results, seconds = asyncio.run(_load([u for _, u in gateways], requests, clients, fault_at, inject))
            time.sleep(4.0 if fault == "gateway" else 0.5)  # a killed gateway's reservations expire (TTL 3 s)
        statuses = Counter(r["status"] for r in results)
        ok = [r for r in results if r["status"] == 200]
        limit = math.floor(cloud_share * window + 1e-9)
        sequences = watcher.sequences()
        worst = max((max_in_any_window(seq, window) for seq in sequences), default=0)
        decisions = sum(len(seq) for seq in sequences)
        cloud_seen = sum(seq.count("cloud") for seq in sequences)
        server_errors = sum(v for k, v in statuses.items() if k >= 500)
        lost = sum(
            1 for r in results if r["status"] == 0 and r["url"] != (gateways[0][1] if fault == "gateway" else None)
        )
        open_left = watcher.open_reservations()
        spent = _spent(gateways, fault)
        checks = {
            "share_cap_held": worst <= limit,
            "no_5xx": server_errors == 0,
            "no_lost_requests": lost == 0,
            "nothing_left_open": open_left == 0,
            # a killed gateway's answered-before-death requests and its unanswered ones were decided too
            # (while Redis is away the edge serves without a reservation: those are not in it)
            "every_decision_seen": fault == "redis" or (decisions >= len(ok) if fault else decisions == len(ok)),
            "no_cloud_without_reservation": sum(1 for r in ok if r["tier"] == "cloud") <= cloud_seen,
            "money_cap_held": money_per_period is None or spent <= money_per_period + 1e-9,
        }
        return {
            "gateways": n,
            "seconds": seconds,
            "requests_per_s": len(ok) / seconds if seconds > 0 else 0.0,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "cloud_served": sum(1 for r in ok if r["tier"] == "cloud"),
            "latency_s": summary(r["s"] for r in ok),
            "decisions_seen": decisions,
            "max_cloud_in_any_window": worst,
            "cloud_limit": limit,
            "open_reservations_left": open_left,
            "spent_in_period": spent,
            "checks": checks,
            "met": all(checks.values()),
        }
    finally:
        for proc, _ in gateways:
            proc.stop(5)


def _spent(gateways: list[tuple[ManagedProcess, str]], fault: str | None) -> float:
    import httpx

    for proc, url in gateways:
        if proc.alive:
            r = httpx.get(f"{url}/v1/budget", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=5.0)
            return float(r.json()["spent_in_period"])
    return math.nan


def format_replicas(r: dict[str, Any]) -> str:
    lines = [
        f"gateway replicas sharing one Redis budget: {r['requests']} requests at {r['clients']} clients, "
        f"cloud share {r['cloud_share']} over {r['window']}, money {r['money_per_period']}, fault {r['fault']}"
    ]
    for n, run in r["runs"].items():
        failed = [k for k, v in run["checks"].items() if not v]
        lines.append(
            f"  {n} gateway(s): {run['requests_per_s']:.1f} req/s, p50 {run['latency_s']['p50']:.2f} s, "
            f"statuses {run['statuses']}, cloud {run['cloud_served']}, max cloud in any window "
            f"{run['max_cloud_in_any_window']}/{run['cloud_limit']}, decisions seen {run['decisions_seen']}, "
            f"open left {run['open_reservations_left']}: {'ok' if not failed else 'FAILED ' + ', '.join(failed)}"
        )
    return "\n".join(lines)
