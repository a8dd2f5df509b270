"""One contract battery run against every backend: tiny diffusers SD, SDXL and SD3 pipelines
(loaded from save_pretrained folders through the worker's config) and the hosted-API backend
against a fake OpenAI-Images provider. Everything goes through real sockets and WorkerClient."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import WorkerBadRequest, WorkerPayloadTooLarge
from routet2i.workers.schemas import GenerateRequest
from tests.workers.conftest import BACKENDS
from tests.workers.images import pixels, png_bytes, same_image


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, worker_url: Callable[[str], str]) -> str:
    return worker_url(request.param)


async def test_defaults_fill_left_out_fields(url: str) -> None:
    async with WorkerClient(url) as worker:
        response = await worker.generate(GenerateRequest(prompt="a lighthouse at dawn"))
        info = await worker.info()
    assert len(response.images) == 1
    assert response.images[0].seed is not None  # a random seed was chosen and reported
    p = response.parameters
    assert (p.width, p.height, p.steps, p.guidance_scale) == (64, 64, 2, 0.0)
    assert pixels(response.images[0].b64_png).shape == (64, 64, 3)
    assert response.model == info.model
    assert info.ready and info.limits["max_n"] == 4 and info.defaults["width"] == 64
    assert response.timings.total_ms >= response.timings.generate_ms > 0


async def test_fields_are_honoured(url: str) -> None:
    async with WorkerClient(url) as worker:
        response = await worker.generate(
            GenerateRequest(
                prompt="a red fox", negative_prompt="blurry", width=96, height=64, steps=3, guidance_scale=4.0, seed=11
            )
        )
    assert pixels(response.images[0].b64_png).shape == (64, 96, 3)
    p = response.parameters
    assert (p.width, p.height, p.steps, p.guidance_scale, p.negative_prompt) == (96, 64, 3, 4.0, "blurry")
    assert response.images[0].seed == 11


async def test_same_seed_gives_identical_png_bytes(url: str) -> None:
    request = GenerateRequest(prompt="a bowl of ramen", seed=1234, steps=2)
    async with WorkerClient(url) as worker:
        first = await worker.generate(request)
        second = await worker.generate(request)
        other = await worker.generate(request.model_copy(update={"seed": 1235}))
    assert png_bytes(first.images[0].b64_png) == png_bytes(second.images[0].b64_png)
    assert not same_image(first.images[0].b64_png, other.images[0].b64_png)


async def test_n_images_get_consecutive_seeds_and_match_single_runs(url: str) -> None:
    async with WorkerClient(url) as worker:
        many = await worker.generate(GenerateRequest(prompt="a castle", seed=2**32 - 2, n=3))
        assert [im.seed for im in many.images] == [2**32 - 2, 2**32 - 1, 0]  # seeds wrap at 2**32
        for image in many.images:
            alone = await worker.generate(GenerateRequest(prompt="a castle", seed=image.seed))
            assert same_image(image.b64_png, alone.images[0].b64_png)
    assert not same_image(many.images[0].b64_png, many.images[1].b64_png)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"width": 70}, "width"),  # not a multiple of 8
        ({"height": 256}, "height"),  # above the maximum
        ({"width": 16}, "width"),  # below the minimum
        ({"steps": 9}, "steps"),
        ({"guidance_scale": 50.0}, "guidance_scale"),
        ({"n": 5}, "n"),
        ({"prompt": "x" * 201}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"seed": -1}, "seed"),
        ({"n": 0}, "n"),
    ],
)
async def test_out_of_limits_is_422_naming_the_field(url: str, fields: dict[str, object], field: str) -> None:
    body = {"prompt": "a cat", **fields}
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/v1/generate", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and error["field"] == field and error["message"]


async def test_client_maps_bad_request_to_typed_error(url: str) -> None:
    async with WorkerClient(url) as worker:
        with pytest.raises(WorkerBadRequest) as caught:
            await worker.generate(GenerateRequest(prompt="a cat", width=72, height=70))
    assert caught.value.field == "height" and caught.value.status == 422


async def test_malformed_bodies_are_4xx_never_500(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        not_json = await http.post("/v1/generate", content=b"{nope", headers={"content-type": "application/json"})
        unknown = await http.post("/v1/generate", json={"prompt": "a cat", "sampler": "ddim"})
        missing = await http.post("/v1/generate", json={"negative_prompt": "x"})
        wrong_type = await http.post("/v1/generate", json={"prompt": "a cat", "steps": "many"})
        too_big = await http.post("/v1/generate", json={"prompt": "a cat", "negative_prompt": "y" * 5000})
        bad_timeout = await http.post("/v1/generate", json={"prompt": "a cat"}, headers={"X-Request-Timeout": "soon"})
        nowhere = await http.get("/v1/nothing")
    assert not_json.status_code == 422 and not_json.json()["error"]["field"] == "body"
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "sampler"
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "prompt"
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["field"] == "steps"
    assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "payload_too_large"
    assert bad_timeout.status_code == 422 and bad_timeout.json()["error"]["field"] == "X-Request-Timeout"
    assert nowhere.status_code == 404 and nowhere.json()["error"]["type"] == "not_found"


async def test_client_maps_413(url: str) -> None:
    async with WorkerClient(url) as worker:
        with pytest.raises(WorkerPayloadTooLarge):
            await worker.generate(GenerateRequest(prompt="z" * 5000))


async def test_probes_and_metrics(url: str) -> None:
    async with WorkerClient(url) as worker:
        assert await worker.health() and await worker.ready()
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/v1/generate", json={"prompt": "a cat", "n": 99})).status_code == 422
        metrics = (await http.get("/metrics")).text
    assert "routet2i_worker_images_total" in metrics and "routet2i_worker_queue_depth" in metrics
    assert 'type="invalid_request"' in metrics  # errors are counted by type
