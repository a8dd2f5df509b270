"""Output formats (routet2i/gateway/image_format.py and the two APIs): PNG, JPEG and WebP, asked
for with ``output_format`` (both APIs) or ``Accept`` (``/generate``), decode with Pillow in the
format and at the size asked for; ``output_compression`` sets the JPEG / WebP quality."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from routet2i.gateway.image_format import FORMATS, InvalidImage, encode
from tests.gateway.conftest import Gateway, MakeGateway

PILLOW = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels (so the quality setting changes the encoded size)."""
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def decoded(data: bytes) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.format, image.size


def _workers_answer(gw: Gateway, width: int, height: int) -> None:
    gw.edge.png = gw.cloud.png = noise_png(width, height)


def test_encode_makes_each_format_and_passes_png_through() -> None:
    png = noise_png(40, 24)
    assert encode(png, "png") is png
    for fmt in FORMATS:
        assert decoded(encode(png, fmt)) == (PILLOW[fmt], (40, 24))
    rgba = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 128)).save(rgba, format="PNG")
    assert decoded(encode(rgba.getvalue(), "jpeg")) == ("JPEG", (8, 8))  # JPEG has no alpha: dropped
    for fmt in ("jpeg", "webp"):
        assert len(encode(png, fmt, 10)) < len(encode(png, fmt, 100))
    with pytest.raises(InvalidImage):
        encode(b"\x89PNG\r\n\x1a\nnot really", "jpeg")


@pytest.mark.parametrize("fmt", FORMATS)
def test_generate_accept_returns_the_raw_image(make_gateway: MakeGateway, fmt: str) -> None:
    with make_gateway() as gw:
        _workers_answer(gw, 64, 96)
        r = gw.client.post(
            "/generate", json={"prompt": "a fox", "width": 64, "height": 96}, headers={"Accept": f"image/{fmt}"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == f"image/{fmt}" and r.headers["x-routet2i-tier"]
        assert decoded(r.content) == (PILLOW[fmt], (64, 96))


@pytest.mark.parametrize("fmt", FORMATS)
def test_generate_output_format_in_json_and_raw(make_gateway: MakeGateway, fmt: str) -> None:
    with make_gateway() as gw:
        _workers_answer(gw, 64, 64)
        r = gw.client.post("/generate", json={"prompt": "a fox", "n": 2, "output_format": fmt})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["output_format"] == fmt
        for image in body["images"]:
            assert set(image) == {f"b64_{fmt}", "seed"}  # only the answered format's field
            assert decoded(base64.b64decode(image[f"b64_{fmt}"])) == (PILLOW[fmt], (64, 64))
        raw = gw.client.post("/generate", json={"prompt": "a fox", "output_format": fmt}, headers={"Accept": "image/*"})
        assert raw.headers["content-type"] == f"image/{fmt}" and decoded(raw.content)[0] == PILLOW[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_openai_output_format(make_gateway: MakeGateway, fmt: str) -> None:
    with make_gateway() as gw:
        _workers_answer(gw, 128, 64)
        r = gw.client.post(
            "/v1/images/generations",
            json={"prompt": "a fox", "size": "128x64", "output_format": fmt, "output_compression": 50},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["output_format"] == fmt and body["size"] == "128x64"
        assert decoded(base64.b64decode(body["data"][0]["b64_json"])) == (PILLOW[fmt], (128, 64))


def test_output_compression_sets_the_quality(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        _workers_answer(gw, 64, 64)
        sizes = {}
        for compression in (5, 100):
            r = gw.client.post(
                "/generate",
                json={"prompt": "a fox", "output_format": "jpeg", "output_compression": compression},
                headers={"Accept": "image/jpeg"},
            )
            sizes[compression] = len(r.content)
        assert sizes[5] < sizes[100]
        for bad in (-1, 101, "high", 50.5):
            r = gw.client.post("/generate", json={"prompt": "a fox", "output_compression": bad})
            assert r.status_code == 422 and r.json()["error"]["field"] == "output_compression", bad
        r = gw.client.post("/generate", json={"prompt": "a fox", "output_format": "gif"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "output_format"


def test_a_worker_image_that_cannot_be_read_is_a_502(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        gw.edge.png = gw.cloud.png = b"\x89PNG\r\n\x1a\nnot really"
        r = gw.client.post("/generate", json={"prompt": "a fox", "output_format": "webp"})
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
