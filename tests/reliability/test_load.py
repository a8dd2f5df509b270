"""The load suite, short: 50 clients for 5 s against the gateway and two tiny workers."""

from __future__ import annotations

import pytest

from routet2i.bench.load import run_load
from routet2i.bench.report import load_targets
from routet2i.bench.stack import Stack

pytestmark = pytest.mark.slow


def test_50_clients_for_5_seconds(stack: Stack) -> None:
    report = run_load(stack, clients=50, duration_s=5.0, warmup_s=1.0, settle_s=1.0)
    assert report["requests"] > 50 and report["statuses"].get("200") == report["requests"], report["statuses"]
    assert report["access_log"]["logged_once"] == report["requests"]
    generated = report["generated"]
    assert generated["generated_requests"] == generated["answered_200"] == report["requests"]
    assert {"edge:predicted", "cloud:predicted"} <= set(report["tiers"])  # both tiers took traffic
    missed = [name for name, ok in load_targets(report).items() if not ok]
    assert not missed, (missed, report)
