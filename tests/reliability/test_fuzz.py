"""Fuzzing, short: schemathesis with all its checks on the worker's and the gateway's OpenAPI
schemas (valid and invalid requests, boundary values, methods a path lacks): no 5xx, every
answer's status, content type, headers and body as documented, every request the schema allows
accepted and every one it forbids refused."""

from __future__ import annotations

import pytest

from routet2i.bench.fuzz import fuzz
from routet2i.bench.stack import ADMIN_KEY, CLIENT_KEY, Stack

pytestmark = pytest.mark.slow


def test_worker_schema(stack: Stack) -> None:
    report = fuzz(stack.edge_url, max_examples=15)
    assert report["operations"]["POST /v1/generate"]["requests"] >= 15
    assert report["server_errors_5xx"] == 0 and report["failures"] == [], report["failures"]


def test_gateway_schema(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Admin-Key": ADMIN_KEY}
    try:
        report = fuzz(stack.gateway_url, max_examples=15, headers=headers)
    finally:  # the operator endpoints were fuzzed too: put the budget back for the other tests
        stack.set_budget(cloud_share=0.5, money_per_period=None, period_s=3600, window=200, warmup=100000)
    ops = report["operations"]
    assert {"POST /generate", "POST /v1/images/generations", "POST /v1/route", "PUT /v1/budget"} <= set(ops)
    assert ops["POST /generate"]["statuses"].get("200", 0) > 0  # valid requests made images
    assert report["server_errors_5xx"] == 0 and report["failures"] == [], report["failures"]
