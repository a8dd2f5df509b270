"""The HTTP rules the gateway and the worker share (routet2i/http_rules.py): a JSON body sent as
anything else is a 415 naming application/json; a 405 lists every method of its path in Allow;
a JSON integer written 2.0 is an integer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from routet2i.gateway.app import create_app
from routet2i.http_rules import is_json_media_type
from tests.gateway.conftest import MakeGateway, gateway_settings
from tests.gateway.doubles import FakeEngine, FakeWorker

ADMIN = {"X-Admin-Key": "op-key"}


def test_json_media_types() -> None:
    for yes in ("application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"):
        assert is_json_media_type(yes), yes
    for no in (None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/json"):
        assert not is_json_media_type(no), no


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/generate"),
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/route"),
        ("PUT", "/v1/budget"),
        ("POST", "/v1/admin/reload"),
    ],
)
def test_a_body_that_is_not_json_is_a_415(make_gateway: MakeGateway, method: str, path: str) -> None:
    with make_gateway(security={"admin_key": "op-key"}) as gw:
        body = b'{"prompt": "a fox"}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {**ADMIN, **({"Content-Type": content_type} if content_type else {})}
            r = gw.client.request(method, path, content=body, headers=headers)
            assert r.status_code == 415, (path, content_type, r.text)
            err = r.json()["error"]
            assert err["type"] == "unsupported_media_type" and err["field"] == "body"
            assert "application/json" in err["message"]
        assert gw.edge.calls == gw.cloud.calls == 0


def test_an_optional_body_may_be_left_out() -> None:
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    app = create_app(
        gateway_settings(security={"admin_key": "op-key"}),
        engine=FakeEngine(),
        workers={"edge": edge.client(), "cloud": cloud.client()},
        engine_loader=lambda path: FakeEngine(),
    )
    with TestClient(app) as client:
        required = client.post("/generate")  # no body, no Content-Type: the body is required
        assert required.status_code == 415
        reload = client.post("/v1/admin/reload", headers=ADMIN)  # no body: reload the live folder
        assert reload.status_code == 200, reload.text
        assert client.post("/v1/admin/reload", content=b"x", headers=ADMIN).status_code == 415


def test_405_lists_every_method_of_the_path(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        for method in ("DELETE", "POST", "PATCH"):
            r = gw.client.request(method, "/v1/budget")
            assert r.status_code == 405
            allowed = {m.strip() for m in r.headers["Allow"].split(",")}
            assert {"GET", "PUT"} <= allowed and method not in allowed
            assert r.json()["error"]["type"] == "method_not_allowed" and "PUT" in r.json()["error"]["message"]
        r = gw.client.get("/generate")
        assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_integers_may_be_written_with_a_zero_fraction(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        ok = gw.client.post("/generate", json={"prompt": "a fox", "n": 2.0, "width": 64.0, "seed": 7.0})
        assert ok.status_code == 200, ok.text
        sent = (gw.edge.requests + gw.cloud.requests)[-1]
        assert (sent["width"], sent["n"], sent["seed"]) == (64, 2, 7) and isinstance(sent["n"], int)
        for bad in ({"n": 1.5}, {"n": "2"}, {"n": True}):
            r = gw.client.post("/generate", json={"prompt": "a fox", **bad})
            assert r.status_code == 422 and r.json()["error"]["field"] == "n", bad
