"""Load: N concurrent clients for T seconds against the gateway, and what they saw.

Each client sends ``POST /generate`` (n=1, a unique seed, every ``png_every``-th with
``Accept: image/png``) with a unique ``X-Request-ID``, waits for the answer, and sends the next
until the time is up. The report says:

- statuses, error types, latency percentiles (all answers and 200s), requests per second;
- **answered exactly once**: every request got one HTTP answer carrying its own id (header, and
  body for JSON) and its own seed; the gateway's access log has exactly one line for each id;
- **generated exactly once**: the workers' counters (requests generated, from ``/metrics``) grew by
  exactly the number of 200 answers, and nothing was dropped or failed;
- the gateway's memory (RSS): when ready, after a warm-up at the same concurrency (the start), its
  peak during the run, and after the run (the end), with end/start.

Used by ``routet2i bench load`` and by the fault scenarios (:mod:`routet2i.bench.faults`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from routet2i.bench.stats import summary

#: Prompts of the load (each request adds a variation number, so the router sees many prompts).
PROMPTS = (
    "a red fox in the snow",
    "an astronaut riding a horse on the moon, photorealistic",
    "a bowl of fruit, oil painting in the style of Cezanne",
    "a city skyline at night with neon signs reflected in the rain",
    "the word 'routet2i' written in golden letters on a wooden sign",
    "two cats playing chess in a library",
    "a minimalist logo of a mountain",
    "a watercolor of a lighthouse on a cliff during a storm",
    "a plate of sushi on a black table",
    "a dragon made of glass flying over a desert",
    "three apples and one banana on a kitchen counter",
    "a robot reading a newspaper in a cafe",
)


@dataclass
class RequestRecord:
    """One request a client sent, and the answer it got (``status`` 0: no HTTP answer)."""

    request_id: str
    client: int
    seed: int
    png: bool
    started_s: float
    latency_s: float
    status: int
    error: str | None = None
    tier: str | None = None
    reason: str | None = None
    fallback_from: str | None = None
    echoed_id: str | None = None
    body_id: str | None = None
    seed_back: int | None = None
    images: int = 0


def _parse(record: RequestRecord, status: int, headers: Any, content: bytes, content_type: str) -> None:
    import json

    record.status = status
    record.echoed_id = headers.get("x-request-id")
    record.tier = headers.get("x-routet2i-tier")
    record.reason = headers.get("x-routet2i-reason")
    record.fallback_from = headers.get("x-routet2i-fallback-from")
    if content_type.startswith("image/png"):
        record.images = 1 if content.startswith(b"\x89PNG") else 0
        seed = headers.get("x-routet2i-seed")
        record.seed_back = int(seed) if seed is not None else None
        return
    try:
        body = json.loads(content)
    except ValueError:
        record.error = record.error or "not_json"
        return
    if not isinstance(body, dict):
        record.error = "not_an_object"
        return
    if status == 200:
        images = body.get("images") or []
        record.images = len(images)
        record.seed_back = images[0].get("seed") if images else None
        record.body_id = body.get("request_id")
        routing = body.get("routing") or {}
        record.tier, record.reason = routing.get("tier", record.tier), routing.get("reason", record.reason)
    else:
        error = body.get("error") or {}
        record.error = str(error.get("type"))
        record.body_id = error.get("request_id")


async def drive(
    url: str,
    *,
    clients: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    id_prefix: str = "load",
    png_every: int = 4,
    seeds: Iterator[int] | None = None,
    during: Callable[[float], None] | None = None,
) -> tuple[list[RequestRecord], float]:
    """``clients`` concurrent clients sending to ``url`` for ``duration_s`` seconds; each request
    may take up to ``timeout_s`` (then it is recorded as ``client_timeout``). ``during(t)`` is
    called about every 0.1 s with the seconds elapsed (to inject faults). Returns the records
    and the wall time of the run."""
    import httpx

    seeds = seeds if seeds is not None else itertools.count(1)
    numbers = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
    records: list[RequestRecord] = []
    t0 = time.monotonic()
    end = t0 + duration_s
    base_headers = dict(headers or {})

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as http:

        async def client(c: int) -> None:
            while time.monotonic() < end:
                i = next(numbers)
                seed = next(seeds)
                record = RequestRecord(
                    request_id=f"{id_prefix}-{c}-{i}",
                    client=c,
                    seed=seed,
                    png=png_every > 0 and i % png_every == 0,
                    started_s=time.monotonic() - t0,
                    latency_s=0.0,
                    status=0,
                )
                req_headers = {**base_headers, "X-Request-ID": record.request_id}
                if record.png:
                    req_headers["Accept"] = "image/png"
                body = {"prompt": f"{PROMPTS[i % len(PROMPTS)]}, variation {i}", "seed": seed, "n": 1}
                t = time.monotonic()
                try:
                    r = await http.post("/generate", json=body, headers=req_headers)
                    record.latency_s = time.monotonic() - t
                    _parse(record, r.status_code, r.headers, r.content, r.headers.get("content-type", ""))
                except httpx.TimeoutException:
                    record.latency_s = time.monotonic() - t
                    record.error = "client_timeout"
                except httpx.HTTPError as exc:
                    record.latency_s = time.monotonic() - t
                    record.error = f"transport:{type(exc).__name__}"
                records.append(record)

        async def ticker() -> None:
            assert during is not None
            while time.monotonic() < end:
                during(time.monotonic() - t0)
                await asyncio.sleep(0.1)

        tasks = [asyncio.create_task(client(c)) for c in range(clients)]
        if during is not None:
            tasks.append(asyncio.create_task(ticker()))
        await asyncio.gather(*tasks)
    return records, time.monotonic() - t0


#: Seconds a bench client waits beyond the gateway's own request deadline before it records
#: ``client_timeout`` (the gateway should always answer first).
CLIENT_MARGIN_S = 30.0


def request_deadline_s(stack: Any) -> float:
    """The gateway's deadline of a whole request (``limits.request_timeout_s``), in seconds."""
    return float(stack.gateway_settings["limits"]["request_timeout_s"])


async def drive_stack(
    stack: Any,
    *,
    clients: int,
    duration_s: float,
    id_prefix: str,
    seeds: Iterator[int],
    during: Callable[[float], None] | None = None,
) -> tuple[list[RequestRecord], float]:
    """:func:`drive` against a started :class:`~routet2i.bench.stack.Stack`'s gateway, with its
    client headers; a client gives up :data:`CLIENT_MARGIN_S` after the request deadline."""
    return await drive(
        stack.gateway_url,
        clients=clients,
        duration_s=duration_s,
        headers=stack.client_headers,
        timeout_s=request_deadline_s(stack) + CLIENT_MARGIN_S,
        id_prefix=id_prefix,
        seeds=seeds,
        during=during,
    )


def summarise(records: list[RequestRecord], elapsed_s: float, *, deadline_s: float | None = None) -> dict[str, Any]:
    """What the clients saw: statuses, errors, latencies, and the per-request checks."""
    statuses = Counter(str(r.status) for r in records)
    ok = [r for r in records if r.status == 200]
    ids = Counter(r.request_id for r in records)
    wrong_id = [r.request_id for r in records if r.status and r.echoed_id != r.request_id]
    wrong_body_id = [r.request_id for r in records if r.status and not r.png and r.body_id not in (None, r.request_id)]
    wrong_seed = [r.request_id for r in ok if r.seed_back != r.seed or r.images != 1]
    out: dict[str, Any] = {
        "requests": len(records),
        "requests_per_s": len(records) / elapsed_s if elapsed_s > 0 else 0.0,
        "elapsed_s": elapsed_s,
        "statuses": dict(sorted(statuses.items())),
        "errors": dict(Counter(r.error for r in records if r.error)),
        "server_errors_5xx": sum(1 for r in records if r.status >= 500),
        "no_answer": sum(1 for r in records if r.status == 0),
        "tiers": dict(Counter(f"{r.tier}:{r.reason}" for r in ok)),
        "fallbacks": sum(1 for r in ok if r.fallback_from),
        "latency_s": summary(r.latency_s for r in records if r.status),
        "latency_ok_s": summary(r.latency_s for r in ok),
        "duplicate_ids_sent": sum(1 for n in ids.values() if n > 1),
        "wrong_echoed_id": wrong_id[:20],
        "wrong_body_id": wrong_body_id[:20],
        "wrong_seed_or_image": wrong_seed[:20],
    }
    if deadline_s is not None:
        out["deadline_s"] = deadline_s
        out["over_deadline"] = sum(1 for r in records if r.latency_s > deadline_s)
    return out


def check_access_log(records: list[RequestRecord], logged: Counter[str]) -> dict[str, Any]:
    """Each request id in the gateway's access log exactly once."""
    sent = {r.request_id for r in records}
    missing = sorted(i for i in sent if logged.get(i, 0) == 0)
    repeated = sorted(i for i in sent if logged.get(i, 0) > 1)
    return {"logged_once": len(sent) - len(missing) - len(repeated), "missing": missing[:20], "repeated": repeated[:20]}


def counters_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Both workers' counters grown between ``before`` and ``after`` (summed over the tiers)."""
    total: dict[str, float] = {}
    for tier, values in after.items():
        for key, value in values.items():
            total[key] = total.get(key, 0.0) + value - before.get(tier, {}).get(key, 0.0)
    return total


def check_generated(records: list[RequestRecord], delta: dict[str, float]) -> dict[str, Any]:
    """The workers generated each answered request once: requests generated == 200 answers,
    images == images answered, nothing dropped or failed."""
    answered = sum(1 for r in records if r.status == 200)
    images = sum(r.images for r in records if r.status == 200)
    generated = delta.get("requests", 0.0)
    return {
        "answered_200": answered,
        "generated_requests": generated,
        "generated_images": delta.get("images", 0.0),
        "dropped": delta.get("dropped", 0.0),
        "failed_batches": delta.get("failed_batches", 0.0),
        "worker_errors": delta.get("errors", 0.0),
        "exactly_once": generated == answered and delta.get("images", 0.0) == images and not delta.get("dropped"),
    }


class RssSampler:
    """Samples a process's RSS every ``interval_s`` on the event loop; ``peak`` is the largest."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        from routet2i.bench.processes import rss_bytes

        while True:
            self.peak = max(self.peak, rss_bytes(self.pid))
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def run_load(
    stack: Any,
    *,
    clients: int,
    duration_s: float,
    warmup_s: float = 3.0,
    settle_s: float = 2.0,
) -> dict[str, Any]:
    """The load suite on a started :class:`~routet2i.bench.stack.Stack`: warm-up, then the run,
    then the checks. Returns the report (a JSON-able dict)."""
    from routet2i.bench.stack import access_log_ids

    deadline = request_deadline_s(stack)
    seeds = itertools.count(1)
    rss_ready = stack.gateway.rss_bytes()
    warm: dict[str, Any] = {}
    if warmup_s > 0:
        warm_records, warm_s = asyncio.run(
            drive_stack(stack, clients=clients, duration_s=warmup_s, id_prefix="warm", seeds=seeds)
        )
        warm = summarise(warm_records, warm_s)
        time.sleep(settle_s)
    before = stack.quiesce()
    rss_start = stack.gateway.rss_bytes()
    offset = stack.gateway_log_offset()

    async def measured() -> tuple[list[RequestRecord], float, int]:
        sampler = RssSampler(stack.gateway.pid)
        sampler.start()
        try:
            records, elapsed = await drive_stack(
                stack, clients=clients, duration_s=duration_s, id_prefix="load", seeds=seeds
            )
        finally:
            await sampler.stop()
        return records, elapsed, sampler.peak

    records, elapsed, rss_peak = asyncio.run(measured())
    time.sleep(settle_s)
    after = stack.quiesce()
    rss_end = stack.gateway.rss_bytes()
    report = summarise(records, elapsed, deadline_s=deadline)
    report.update(
        clients=clients,
        duration_s=duration_s,
        warmup=warm,
        access_log=check_access_log(records, access_log_ids(stack.gateway.log, offset)),
        generated=check_generated(records, counters_delta(before, after)),
        gateway_rss_mib={
            "ready": rss_ready / 2**20,
            "start": rss_start / 2**20,
            "peak": rss_peak / 2**20,
            "end": rss_end / 2**20,
            "end_over_start": rss_end / rss_start if rss_start else float("nan"),
        },
    )
    return report


def records_as_dicts(records: list[RequestRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]
