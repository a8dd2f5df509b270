"""500 PartiPrompts at concurrency 32 through the gateway with a 30 % cloud budget."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import httpx
import pytest

from routet2i.gateway.app import create_app
from routet2i.routing.budget import Verdict
from routet2i.types import TierName as Tier
from tests.gateway.conftest import gateway_settings
from tests.gateway.doubles import FakeEngine, FakeWorker
from tests.routing.test_budget import max_cloud_in_any_window

WINDOW = 100
SHARE = 0.3


def parti_prompts(data: Path, n: int) -> list[str]:
    path = data / "partiprompts" / "PartiPrompts.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with path.open(encoding="utf-8", newline="") as f:
        prompts = [row["Prompt"] for row in csv.DictReader(f, delimiter="\t") if row["Prompt"].strip()]
    return prompts[:n]


@pytest.mark.shared_data
async def test_cloud_share_stays_within_budget_under_concurrency(shared_data: Path) -> None:
    prompts = parti_prompts(shared_data, 500)
    assert len(prompts) == 500
    # The router wants the cloud for about half of the prompts (PRŜ uniform on [0, 1)).
    engine = FakeEngine()
    settings = gateway_settings(budget={"cloud_share": SHARE, "window": WINDOW, "warmup": 50})
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    app = create_app(settings, engine=engine, workers={"edge": edge.client(), "cloud": cloud.client()})
    service = app.state.dispatcher
    decided: list[Tier] = []
    decide = service.budget.reserve

    async def spy(*args: object, **kwargs: object) -> Verdict:
        verdict = await decide(*args, **kwargs)  # type: ignore[arg-type]
        decided.append(verdict.tier)
        return verdict

    service.budget.reserve = spy  # type: ignore[method-assign]
    await service.start()
    try:
        sem = asyncio.Semaphore(32)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:

            async def one(prompt: str) -> dict[str, object]:
                async with sem:
                    r = await client.post("/generate", json={"prompt": prompt})
                    assert r.status_code == 200, r.text
                    routing: dict[str, object] = r.json()["routing"]
                    return routing

            routings = await asyncio.gather(*(one(p) for p in prompts))
    finally:
        await service.stop()

    assert len(decided) == 500
    assert max_cloud_in_any_window(decided, WINDOW) <= int(SHARE * WINDOW) + 1
    prefers_cloud = sum(float(r["prs"]) < 0.5 for r in routings) / len(routings)  # type: ignore[arg-type]
    assert prefers_cloud > SHARE + 0.1  # the router prefers the cloud more often than the budget allows ...
    last = decided[-WINDOW:]
    assert sum(t == "cloud" for t in last) / WINDOW >= SHARE - 0.08  # ... and the budget is used
    assert cloud.calls == sum(t == "cloud" for t in decided)
    assert max(engine.batches) > 1  # concurrent requests were predicted together
    assert all(r["threshold"] <= 0.5 for r in routings)
