"""JSON access logs with the request id; prompts only when configured; keys never logged."""

from __future__ import annotations

import json
import logging

import pytest

from routet2i.logs import JsonFormatter
from tests.gateway.conftest import MakeGateway


def _access(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "routet2i.gateway.access" and getattr(r, "path", None) == path]


def test_access_log_is_json_with_the_decision_and_no_prompt(
    make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with make_gateway(security={"api_keys": ["s3cret-key"]}) as gw:
        gw.client.post(
            "/generate",
            json={"prompt": "prs=0.2 my private prompt"},
            headers={"X-Request-ID": "log-1", "Authorization": "Bearer s3cret-key"},
        )
    [record] = _access(caplog, "/generate")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "log-1" and line["status"] == 200 and line["tier"] == "cloud"
    assert line["reason"] == "predicted" and line["prs"] == 0.2 and line["duration_ms"] > 0
    assert "prompt" not in line
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "my private prompt" not in everything and "s3cret-key" not in everything


def test_prompts_are_logged_when_configured(make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with make_gateway(logging={"json_logs": True, "log_prompts": True}) as gw:
        gw.client.post("/generate", json={"prompt": "prs=0.9 a logged prompt"})
    [record] = _access(caplog, "/generate")
    assert json.loads(JsonFormatter().format(record))["prompt"] == "prs=0.9 a logged prompt"
