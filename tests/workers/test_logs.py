"""The worker's logs: JSON lines (uvicorn's included), each line written while a request is served
carrying its id; the id is the caller's ``X-Request-ID`` (the gateway's, forwarded by the worker
client) or a new one, echoed back either way."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from routet2i.cli import main
from routet2i.logs import REQUEST_ID, configure_logging
from routet2i.workers.app import create_app
from routet2i.workers.backend import GenerationJob
from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import WorkerError
from routet2i.workers.schemas import GenerateRequest
from tests.workers.fakes import RecordingBackend
from tests.workers.harness import ServerThread, free_port, tiny_settings, wait_ready


class BuggyBackend(RecordingBackend):
    """``validate`` (run in the request's handler) logs a line, then has a bug for prompt ``bug``."""

    def validate(self, job: GenerationJob) -> None:
        logging.getLogger("tests.workers.backend").info("validating %d images", job.n)
        if job.prompt == "bug":
            raise RuntimeError("a bug")


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as one JSON object (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _access(records: list[logging.LogRecord], path: str) -> list[logging.LogRecord]:
    return [r for r in records if r.name == "routet2i.workers.access" and getattr(r, "path", None) == path]


def test_the_worker_logs_json_lines_with_the_request_id_over_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_logs=True)  # what `routet2i worker` does
    app = create_app(tiny_settings("unused"), backend=BuggyBackend())
    with ServerThread(app, log_config=None, log_level="info") as server:
        wait_ready(server.url)
        ok = httpx.post(f"{server.url}/v1/generate", json={"prompt": "a fox"}, headers={"X-Request-ID": "trace-7"})
        bug = httpx.post(f"{server.url}/v1/generate", json={"prompt": "bug"}, headers={"X-Request-ID": "trace-8"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "trace-7"
    assert bug.status_code == 500 and bug.headers["X-Request-ID"] == "trace-8"
    assert bug.json() == {"error": {"type": "internal_error", "message": "internal error (see the worker log)"}}

    lines = _json_lines(capsys.readouterr().err)  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["logger"] == "uvicorn.error" and "startup complete" in line["message"] for line in lines)
    by_id = {rid: [line for line in lines if line.get("request_id") == rid] for rid in ("trace-7", "trace-8")}
    [access] = [line for line in by_id["trace-7"] if line["logger"] == "routet2i.workers.access"]
    assert access["method"] == "POST" and access["path"] == "/v1/generate" and access["status"] == 200
    assert access["duration_ms"] > 0
    assert [line["message"] for line in by_id["trace-7"] if line["logger"] == "tests.workers.backend"] == [
        "validating 1 images"
    ]
    [unhandled] = [line for line in by_id["trace-8"] if line["level"] == "ERROR"]
    assert unhandled["logger"] == "routet2i.workers" and "RuntimeError: a bug" in unhandled["exception"]
    assert [line["status"] for line in by_id["trace-8"] if line["logger"] == "routet2i.workers.access"] == [500]
    # no line about a request lacks its id (the uvicorn.access lines are replaced by ours)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert not [line for line in lines if "validating" in line["message"] and "request_id" not in line]


def test_a_request_without_an_id_gets_a_new_one_echoed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # probes are access-logged at debug level only
    with TestClient(create_app(tiny_settings("unused"), backend=RecordingBackend())) as client:
        plain = client.get("/healthz")
        unsafe = client.get("/healthz", headers={"X-Request-ID": "no spaces/allowed"})
        missing = client.post("/v1/generate", json={})  # a 422 carries its id too
    ids = [r.headers["X-Request-ID"] for r in (plain, unsafe, missing)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids) and len(set(ids)) == 3
    assert [getattr(r, "request_id", None) for r in _access(caplog.records, "/healthz")] == ids[:2]
    assert {r.levelno for r in _access(caplog.records, "/healthz")} == {logging.DEBUG}
    [access] = _access(caplog.records, "/v1/generate")
    assert access.request_id == ids[2] and access.status == 422  # type: ignore[attr-defined]


def test_an_unhandled_error_is_counted_in_the_metrics() -> None:
    with TestClient(create_app(tiny_settings("unused"), backend=BuggyBackend())) as client:
        r = client.post("/v1/generate", json={"prompt": "bug"}, headers={"X-Request-ID": "bug-1"})
        metrics = client.get("/metrics").text
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "bug-1"
    assert 'routet2i_worker_errors_total{model="tiny",type="internal_error"} 1.0' in metrics


def test_a_failed_batch_is_logged_with_the_ids_of_its_requests(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_logs=True)
    backend = RecordingBackend(fail_generate=RuntimeError("CUDA out of memory"))
    with TestClient(create_app(tiny_settings("unused"), backend=backend)) as client:
        r = client.post("/v1/generate", json={"prompt": "a fox"}, headers={"X-Request-ID": "oom-1"})
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "oom-1"
    lines = _json_lines(capsys.readouterr().err)
    [batch] = [line for line in lines if line["logger"] == "routet2i.workers.scheduler"]  # the batch's own task
    assert batch["request_id"] == "oom-1" and batch["request_ids"] == ["oom-1"]
    [answered] = [line for line in lines if line["logger"] == "routet2i.workers.error_handlers"]
    assert answered["request_id"] == "oom-1" and "generation_error" in answered["message"]


async def test_the_client_forwards_the_id_of_the_request_being_served() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error": {"type": "unavailable", "message": "loading"}})

    async with WorkerClient("http://worker", transport=httpx.MockTransport(handle)) as worker:
        token = REQUEST_ID.set("gw-42")
        try:
            with pytest.raises(WorkerError):
                await worker.generate(GenerateRequest(prompt="a cat"))
            with pytest.raises(WorkerError):
                await worker.info()
        finally:
            REQUEST_ID.reset(token)
        assert not await worker.ready()  # a health probe serves no request: no id
    assert [r.headers.get("X-Request-ID") for r in seen] == ["gw-42", "gw-42", None]


async def test_one_id_follows_a_request_from_the_client_to_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with ServerThread(create_app(tiny_settings("unused"), backend=RecordingBackend())) as server:
        wait_ready(server.url)
        async with WorkerClient(server.url) as worker:
            token = REQUEST_ID.set("gw-7")
            try:
                answer = await worker.generate(GenerateRequest(prompt="a fox", seed=1))
            finally:
                REQUEST_ID.reset(token)
    assert answer.images[0].seed == 1
    [access] = _access(caplog.records, "/v1/generate")  # written by the server thread
    assert access.request_id == "gw-7" and access.status == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize("json_logs", [True, False])
def test_the_worker_command_logs_json_unless_configured_to_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_logs: bool
) -> None:
    broken = tmp_path / "broken-model"  # passes the preflight (it has a model_index.json), fails to load
    broken.mkdir()
    (broken / "model_index.json").write_text("not json")
    settings = tiny_settings(broken, warmup=False, logging={"json_logs": json_logs})
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    assert main(["worker", "--config", str(config), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    log_lines = err[: err.index("routet2i worker: error:")].splitlines()  # the CLI's own message follows
    failed = [line for line in log_lines if "loading" in line and "routet2i.workers.runtime" in line]
    assert failed and any("uvicorn.error" in line for line in log_lines)
    if json_logs:
        assert [line["logger"] for line in _json_lines("\n".join(log_lines))].count("uvicorn.error") >= 2
        # one line with the cause; the traceback only at debug level
        assert json.loads(failed[0])["level"] == "ERROR" and "exception" not in json.loads(failed[0])
        assert "not a valid JSON file" in json.loads(failed[0])["message"]
    else:
        assert not any(line.startswith("{") for line in log_lines)
        assert " ERROR routet2i.workers.runtime: loading " in failed[0]
