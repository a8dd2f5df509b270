"""Faults under load, short: the edge worker killed and restarted, the cloud slower than its
timeout, the cloud answering garbage. Every request is answered within its deadline, never with
a 500; the edge takes the cloud's requests; the killed edge comes back into rotation."""

from __future__ import annotations

import pytest

from routet2i.bench.faults import run_scenario
from routet2i.bench.report import fault_targets
from routet2i.bench.stack import Stack

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", ["slow", "garbage", "kill"])
def test_fault_under_load(stack: Stack, scenario: str) -> None:
    report = run_scenario(stack, scenario, clients=30, duration_s=4.0)
    missed = [name for name, ok in fault_targets(report).items() if not ok]
    assert not missed, (missed, report)
    assert report["no_answer"] == 0 and report["over_deadline"] == 0
    for key in report["error_statuses"]:
        status, error = key.split(":", 1)
        assert (status, error) in {("502", "upstream_error"), ("503", "unavailable"), ("504", "timeout")}, key
    after = report["after_fault"]
    if scenario == "kill":
        # the edge's requests went to the cloud while it was down (the rest: 503 + Retry-After)
        assert after["tiers"].get("cloud:fallback", 0) > 0
        assert report["events"]["edge_back_in_rotation_s"] > report["events"]["edge_restarted_s"]
    else:
        # the cloud's broken answers never reached a client: the edge served them instead
        assert after["tiers"].get("edge:fallback", 0) > 0
        assert report["wrong_seed_or_image"] == []
