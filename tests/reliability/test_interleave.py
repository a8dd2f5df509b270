"""The overhead benches' request rotation: every round sends each variant once, starting one
further along each round; the warm-up rounds are sent but not timed."""

from __future__ import annotations

import httpx

from routet2i.bench.interleave import Request, rotated_latencies


async def test_variants_rotate_and_the_warm_up_is_not_timed() -> None:
    sent: list[str] = []
    answered: list[tuple[str, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path.strip("/"))
        return httpx.Response(200, json={"ok": True})

    def request(variant: str, i: int) -> Request:
        return f"http://bench.test/{variant}", {"round": i}, {}

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        times = await rotated_latencies(
            client, ("a", "b", "c"), 2, request, lambda v, r, ms: answered.append((v, r.status_code)), warmup=1
        )
    assert sent == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {v: len(t) for v, t in times.items()} == {"a": 2, "b": 2, "c": 2}
    assert all(ms >= 0 for t in times.values() for ms in t)
    assert answered == [("b", 200), ("c", 200), ("a", 200), ("c", 200), ("a", 200), ("b", 200)]
