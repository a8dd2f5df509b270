"""Three gateway processes on one real Redis, over sockets (``routet2i bench replicas`` as a
check): the shared caps hold over the combined sequence of reservations, with or without a
fault halfway (a gateway SIGKILLed; Redis killed and started again, empty)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routet2i.bench.replicas import run_replicas_bench

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("fault", "requests"),
    [(None, 600), ("gateway", 300), ("redis", 300)],
    ids=["no-fault", "gateway-killed", "redis-killed"],
)
def test_three_gateways_share_one_budget(tmp_path: Path, fault: str | None, requests: int) -> None:
    # a money cap too (a cloud image costs 0.01): 170 cloud images at most in the period
    money = 1.7 if fault is None else None
    r = run_replicas_bench(tmp_path, replicas=(3,), requests=requests, clients=48, fault=fault, money_per_period=money)
    run = r["runs"]["3"]
    assert run["checks"] == dict.fromkeys(run["checks"], True), run
    # the cap bound (half the traffic asks for the cloud), over every window of all three gateways
    assert run["max_cloud_in_any_window"] == run["cloud_limit"] == 30
    assert run["open_reservations_left"] == 0
    if fault is None:
        assert run["statuses"] == {"200": requests} and run["decisions_seen"] == requests
        assert run["spent_in_period"] <= 1.7 + 1e-9 and run["cloud_served"] <= 170
    if fault == "redis":  # the edge served through the outage; nothing reached the cloud unreserved
        assert run["statuses"] == {"200": requests}
