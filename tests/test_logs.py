"""The shared logging pieces of the gateway and the worker: the JSON formatter, the request id of
the request being served, the logging set-up, and the request-id middleware (on a bare app)."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from routet2i.logs import QUIET_LIBRARIES, REQUEST_ID, JsonFormatter, StderrHandler, configure_logging, wants_json
from routet2i.request_id import RequestIdMiddleware, is_valid_request_id


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("some.logger", logging.WARNING, __file__, 1, message, args or ("world",), None)
    record.__dict__.update(extra)
    return record


def test_the_formatter_writes_one_json_object_with_the_current_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(_record()))
    token = REQUEST_ID.set("ctx-1")
    try:
        line = JsonFormatter().format(_record(tier="edge"))
        explicit = json.loads(JsonFormatter().format(_record(request_id="given-2")))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "hello world" and out["level"] == "WARNING" and out["logger"] == "some.logger"
    assert out["request_id"] == "ctx-1" and out["tier"] == "edge"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["time"])
    assert explicit["request_id"] == "given-2"


def test_the_formatter_keeps_the_trace_inside_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "failed" and "ValueError: boom" in out["exception"]


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("json_logs", [True, False])
def test_configure_logging_routes_uvicorn_through_the_root_handler(json_logs: bool) -> None:
    configure_logging("debug", json_logs=json_logs)
    configure_logging("debug", json_logs=json_logs)  # a second call replaces, never doubles
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if isinstance(h, StderrHandler)]
    assert isinstance(handler.formatter, JsonFormatter) is json_logs and root.level == logging.DEBUG
    assert logging.getLogger("uvicorn.error").propagate and not logging.getLogger("uvicorn.error").handlers
    assert logging.getLogger("uvicorn.access").disabled  # the request-id middleware writes the access log
    assert logging.getLogger("httpx").level == logging.NOTSET  # debugging: the libraries speak too
    configure_logging("info", json_logs=json_logs)
    assert all(logging.getLogger(n).level == logging.WARNING for n in QUIET_LIBRARIES)


@pytest.mark.usefixtures("restored_logging")
def test_model_libraries_log_once_through_the_root_handler(capsys: pytest.CaptureFixture[str]) -> None:
    import huggingface_hub  # noqa: F401  (installs its own stderr handler on import)

    hub = logging.getLogger("huggingface_hub")
    hub.addHandler(logging.StreamHandler(sys.stderr))  # as the library's own set-up does
    configure_logging("info", json_logs=True)
    assert not hub.handlers and hub.propagate
    hub.warning("hub unreachable")
    lines = [line for line in capsys.readouterr().err.splitlines() if "hub unreachable" in line]
    assert len(lines) == 1 and json.loads(lines[0])["logger"] == "huggingface_hub"


def test_the_handler_writes_to_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handler = StderrHandler()
    handler.handle(_record("to %s", "stderr"))
    assert "to stderr" in capsys.readouterr().err


def test_json_or_text_follows_the_flag_then_the_settings() -> None:
    assert wants_json(None, True) and not wants_json(None, False)
    assert wants_json("json", False) and not wants_json("text", True)


async def _hello(request: Request) -> PlainTextResponse:
    logging.getLogger("tests.handler").info("inside")
    return PlainTextResponse(f"{request.state.request_id} {REQUEST_ID.get()}")


async def _bug(request: Request) -> PlainTextResponse:
    raise RuntimeError("a bug")


def _app() -> Starlette:
    app = Starlette(routes=[Route("/hello", _hello), Route("/bug", _bug)])
    app.add_middleware(RequestIdMiddleware, access_logger="tests.access", error_logger="tests.errors")
    return app


def test_the_middleware_keeps_a_sane_id_and_replaces_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(_app()) as client:
        kept = client.get("/hello", headers={"X-Request-ID": "abc-1:2.3_x"})
        made = [client.get("/hello", headers=h) for h in ({}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": "a b"})]
    assert kept.headers["X-Request-ID"] == "abc-1:2.3_x" and kept.text == "abc-1:2.3_x abc-1:2.3_x"
    for r in made:
        rid = r.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid) and r.text == f"{rid} {rid}"
    access = [r for r in caplog.records if r.name == "tests.access"]
    assert [r.request_id for r in access] == [  # type: ignore[attr-defined]
        "abc-1:2.3_x",
        *(r.headers["X-Request-ID"] for r in made),
    ]
    assert all(r.status == 200 and r.path == "/hello" for r in access)  # type: ignore[attr-defined]
    assert REQUEST_ID.get() is None
    assert is_valid_request_id("a" * 128) and not is_valid_request_id("") and not is_valid_request_id("a\nb")


def test_probes_are_access_logged_at_debug_level_only(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(routes=[Route(path, _hello) for path in ("/hello", "/healthz", "/readyz", "/metrics")])
    app.add_middleware(RequestIdMiddleware, access_logger="tests.access")
    caplog.set_level(logging.DEBUG, logger="tests.access")
    with TestClient(app) as client:
        for path in ("/readyz", "/healthz", "/metrics", "/hello"):
            assert client.get(path).status_code == 200
    levels = {r.path: r.levelno for r in caplog.records if r.name == "tests.access"}  # type: ignore[attr-defined]
    assert levels == {
        "/readyz": logging.DEBUG,
        "/healthz": logging.DEBUG,
        "/metrics": logging.DEBUG,
        "/hello": logging.INFO,
    }


def test_the_middleware_answers_an_unhandled_error_with_the_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(_app(), raise_server_exceptions=False) as client:
        r = client.get("/bug", headers={"X-Request-ID": "bug-9"})
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "bug-9"
    assert r.json() == {"error": {"type": "internal_error", "message": "internal error", "request_id": "bug-9"}}
    [error] = [rec for rec in caplog.records if rec.name == "tests.errors"]
    assert error.request_id == "bug-9" and error.exc_info is not None  # type: ignore[attr-defined]
    [access] = [rec for rec in caplog.records if rec.name == "tests.access"]
    assert access.status == 500  # type: ignore[attr-defined]
