"""The worker's HTTP surface: 415 for a body that is not JSON, 405 with Allow, offline docs, and
an OpenAPI document that states the configured limits (routet2i/workers/openapi.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routet2i.workers.app import create_app
from tests.workers.fakes import RecordingBackend
from tests.workers.harness import tiny_settings


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(tiny_settings("unused"), backend=RecordingBackend())) as c:
        yield c


def test_a_body_that_is_not_json_is_a_415(client: TestClient) -> None:
    for headers in ({"Content-Type": "text/plain"}, {}):
        r = client.post("/v1/generate", content=b'{"prompt": "a fox"}', headers=headers)
        assert r.status_code == 415, r.text
        err = r.json()["error"]
        assert err["type"] == "unsupported_media_type" and "application/json" in err["message"]


def test_405_has_allow(client: TestClient) -> None:
    r = client.get("/v1/generate")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_docs_are_offline(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in html and "http" not in html
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_schema_states_the_limits(client: TestClient) -> None:
    props: dict[str, Any] = client.get("/openapi.json").json()["components"]["schemas"]["GenerateRequest"]["properties"]

    def non_null(name: str) -> dict[str, Any]:
        prop: dict[str, Any] = props[name]
        return next(b for b in prop.get("anyOf", [prop]) if b.get("type") != "null")

    assert props["prompt"]["minLength"] == 1 and props["prompt"]["pattern"] == r"\S"
    assert props["prompt"]["maxLength"] == 200
    assert {k: non_null("width")[k] for k in ("minimum", "maximum", "multipleOf")} == {
        "minimum": 32,
        "maximum": 128,
        "multipleOf": 8,
    }
    assert non_null("steps")["maximum"] == 4 and props["n"]["maximum"] == 4
