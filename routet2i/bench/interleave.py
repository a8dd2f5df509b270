"""Sequential requests of several variants, rotated request by request (the overhead benches).

Round ``i`` sends one request of every variant, starting at variant ``i mod V``, so no variant
always runs first or last on a machine whose speed drifts; the first ``warmup`` rounds are not
timed. Each request is ``request(variant, i) -> (url, JSON body, headers)``; ``on_answer`` sees
each timed answer with its latency (ms), for figures read from the body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

#: (url, JSON body, headers) of one request.
Request = tuple[str, dict[str, Any], dict[str, str]]

#: Untimed rounds before the measurement.
WARMUP_ROUNDS = 20


async def rotated_latencies(
    client: httpx.AsyncClient,
    variants: Sequence[str],
    rounds: int,
    request: Callable[[str, int], Request],
    on_answer: Callable[[str, httpx.Response, float], None] | None = None,
    *,
    warmup: int = WARMUP_ROUNDS,
) -> dict[str, list[float]]:
    """Latency (ms) of every timed request, by variant: ``rounds`` of each after ``warmup``."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(rounds + warmup):
        k = i % len(variants)
        for variant in [*variants[k:], *variants[:k]]:
            url, body, headers = request(variant, i)
            t0 = time.perf_counter()
            r = await client.post(url, json=body, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            if i >= warmup:
                times[variant].append(elapsed)
                if on_answer is not None:
                    on_answer(variant, r, elapsed)
    return times
