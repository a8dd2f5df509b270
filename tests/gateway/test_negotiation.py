"""Content negotiation on ``POST /generate`` (routet2i/gateway/routes/common.negotiate_image):
JSON by default and for ``*/*``, the raw image for an image type, 406 naming what the gateway can
produce when ``Accept`` allows none of it."""

from __future__ import annotations

import pytest

from routet2i.gateway.errors import NotAcceptable
from routet2i.gateway.routes.common import negotiate_image
from tests.gateway.conftest import MakeGateway


@pytest.mark.parametrize(
    ("accept", "output_format", "answer"),
    [
        (None, None, None),
        ("", None, None),
        ("*/*", None, None),
        ("application/json", None, None),
        ("image/png", None, "png"),
        ("image/jpeg", None, "jpeg"),
        ("IMAGE/WEBP; q=0.9", None, "webp"),
        ("image/*", None, "png"),
        ("image/*", "webp", "webp"),
        ("image/png, application/json", None, None),  # a tie goes to JSON
        ("image/png;q=0.4, application/json;q=0.3", None, "png"),
        ("text/html, */*;q=0.1", None, None),  # browsers: JSON
        ("image/jpeg;q=0, image/*", None, "png"),  # the specific range wins
        ("image/*, */*;q=0.5", "jpeg", "jpeg"),
        ("*/*", "jpeg", None),  # JSON, base64 JPEG inside
    ],
)
def test_negotiate(accept: str | None, output_format: str | None, answer: str | None) -> None:
    assert negotiate_image(accept, output_format) == answer  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("accept", "output_format"),
    [("image/gif", None), ("text/html", None), ("application/xml, text/*", None), ("image/png", "jpeg")],
)
def test_not_acceptable(accept: str, output_format: str | None) -> None:
    with pytest.raises(NotAcceptable) as info:
        negotiate_image(accept, output_format)  # type: ignore[arg-type]
    assert "application/json" in info.value.message


def test_generate_answers_406_naming_what_it_can_produce(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        for accept in ("image/gif", "text/html"):
            r = gw.client.post("/generate", json={"prompt": "a fox"}, headers={"Accept": accept})
            assert r.status_code == 406, r.text
            err = r.json()["error"]
            assert err["type"] == "not_acceptable"
            for media in ("application/json", "image/png", "image/jpeg", "image/webp"):
                assert media in err["message"]
        conflict = gw.client.post(
            "/generate", json={"prompt": "a fox", "output_format": "jpeg"}, headers={"Accept": "image/png"}
        )
        assert conflict.status_code == 406 and "image/jpeg" in conflict.json()["error"]["message"]
        assert gw.edge.calls == gw.cloud.calls == 0  # refused before anything was generated
        many = gw.client.post("/generate", json={"prompt": "a fox", "n": 2}, headers={"Accept": "image/webp"})
        assert many.status_code == 422 and many.json()["error"]["field"] == "n"
