"""The hosted-API backend against a fake OpenAI-Images provider on a real socket: what it sends,
and how every provider failure maps to our errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from routet2i.errors import ConfigError
from routet2i.workers.backend import GenerationJob
from routet2i.workers.client import WorkerClient
from routet2i.workers.errors import (
    WorkerBadRequest,
    WorkerError,
    WorkerOverloaded,
    WorkerTimeout,
    WorkerUnavailable,
    WorkerUpstreamError,
)
from routet2i.workers.openai_images import OpenAIImagesBackend
from routet2i.workers.params import resolve_request
from routet2i.workers.schemas import GenerateRequest
from routet2i.workers.settings import WorkerSettings
from tests.workers.harness import ServerThread
from tests.workers.images import PNG_MAGIC

MakeSettings = Callable[..., WorkerSettings]


def job(prompt: str, seeds: tuple[int, ...] = (5,), negative: str | None = None) -> GenerationJob:
    return GenerationJob(
        prompt=prompt, negative_prompt=negative, width=96, height=64, steps=3, guidance_scale=2.5, seeds=seeds
    )


@pytest.fixture
async def backend(openai_settings: MakeSettings) -> AsyncIterator[OpenAIImagesBackend]:
    b = OpenAIImagesBackend(openai_settings())
    await b.start(None)
    yield b
    await b.close()


async def test_sends_mapped_fields_with_the_key_and_one_call_per_seeded_image(
    backend: OpenAIImagesBackend, fake_openai: ServerThread
) -> None:
    calls: list[dict[str, Any]] = fake_openai.app.state.calls  # type: ignore[attr-defined]
    calls.clear()
    [images] = await backend.generate([job("a lighthouse", seeds=(5, 6), negative="fog")])
    assert [im.seed for im in images] == [5, 6] and all(im.png.startswith(PNG_MAGIC) for im in images)
    assert len(calls) == 2 and {c["body"]["seed"] for c in calls} == {5, 6}
    body = calls[0]["body"]
    assert body["model"] == "fake-image-1" and body["size"] == "96x64" and body["n"] == 1
    assert (body["negative_prompt"], body["steps"], body["guidance_scale"]) == ("fog", 3, 2.5)
    assert body["response_format"] == "b64_json"
    assert calls[0]["authorization"] == "Bearer test-key"


async def test_without_a_seed_field_one_call_makes_n_images(openai_settings: MakeSettings) -> None:
    b = OpenAIImagesBackend(openai_settings(seed_param=None))
    await b.start(None)
    try:
        [images] = await b.generate([job("two boats", seeds=(1, 2))])
    finally:
        await b.close()
    assert len(images) == 2 and [im.seed for im in images] == [None, None]
    assert "seed" not in b.supported_fields


async def test_fields_the_provider_cannot_take_are_refused_not_ignored(openai_settings: MakeSettings) -> None:
    settings = openai_settings(seed_param=None, negative_prompt_param=None, steps_param=None, guidance_param=None)
    b = OpenAIImagesBackend(settings)
    for field, value in (("seed", 3), ("negative_prompt", "fog"), ("steps", 2), ("guidance_scale", 1.0)):
        request = GenerateRequest.model_validate({"prompt": "x", field: value})
        with pytest.raises(WorkerBadRequest) as caught:
            resolve_request(request, settings.defaults, settings.limits, b.supported_fields)
        assert caught.value.field == field
    assert resolve_request(GenerateRequest(prompt="x", n=2), settings.defaults, settings.limits, b.supported_fields)


async def test_unoffered_size_is_refused_naming_width(backend: OpenAIImagesBackend) -> None:
    bad = GenerationJob(prompt="x", negative_prompt=None, width=128, height=64, steps=1, guidance_scale=0, seeds=(1,))
    with pytest.raises(WorkerBadRequest) as caught:
        backend.validate(bad)
    assert caught.value.field == "width" and "64x64" in caught.value.message


@pytest.mark.parametrize(
    ("prompt", "error", "status"),
    [
        ("rate-limit", WorkerOverloaded, 429),
        ("refuse", WorkerBadRequest, 400),
        ("explode", WorkerUpstreamError, 502),
        ("unavailable", WorkerUnavailable, 503),
        ("nob64", WorkerUpstreamError, 502),
    ],
)
async def test_provider_errors_map_to_ours(
    backend: OpenAIImagesBackend, prompt: str, error: type[WorkerError], status: int
) -> None:
    with pytest.raises(WorkerError) as caught:
        await backend.generate([job(prompt)])
    assert type(caught.value) is error and caught.value.status == status
    if prompt == "rate-limit":
        assert caught.value.retry_after == 7.0
    if prompt == "refuse":
        assert caught.value.field == "prompt"


async def test_provider_timeout_is_504(backend: OpenAIImagesBackend) -> None:
    with pytest.raises(WorkerTimeout):
        await backend.generate([job("slow")])


async def test_wrong_key_is_an_upstream_error(openai_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = openai_settings()
    assert settings.api.api_key_env is not None
    monkeypatch.setenv(settings.api.api_key_env, "wrong")
    b = OpenAIImagesBackend(settings)
    await b.start(None)
    try:
        with pytest.raises(WorkerUpstreamError, match="401"):
            await b.generate([job("a cat")])
    finally:
        await b.close()


async def test_redirects_to_another_host_are_not_followed(
    backend: OpenAIImagesBackend, fake_openai: ServerThread
) -> None:
    state = fake_openai.app.state  # type: ignore[attr-defined]
    state.redirect_to = f"http://localhost:{fake_openai.port}/steal"
    with pytest.raises(WorkerUpstreamError, match="redirect"):
        await backend.generate([job("redirect")])
    assert state.stolen == []  # the key never travelled to the other host


async def test_jpeg_answers_are_reencoded_as_png(backend: OpenAIImagesBackend) -> None:
    [[image]] = await backend.generate([job("jpeg please")])
    assert image.png.startswith(PNG_MAGIC)


async def test_unreachable_provider_is_unavailable(openai_settings: MakeSettings) -> None:
    from tests.workers.harness import free_port

    b = OpenAIImagesBackend(openai_settings(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    await b.start(None)
    try:
        with pytest.raises(WorkerUnavailable):
            await b.generate([job("a cat")])
    finally:
        await b.close()


def test_config_errors_name_the_field(openai_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = openai_settings()
    assert settings.api.api_key_env is not None
    monkeypatch.delenv(settings.api.api_key_env)
    with pytest.raises(ConfigError, match=r"api\.api_key_env"):
        OpenAIImagesBackend(settings)
    monkeypatch.setenv(settings.api.api_key_env, "k")
    with pytest.raises(ConfigError, match=r"api\.sizes"):
        OpenAIImagesBackend(openai_settings(sizes={"1024x1024": "1024x1024"}))


async def test_provider_rate_limit_reaches_the_gateway_as_429(worker_url: Callable[[str], str]) -> None:
    async with WorkerClient(worker_url("openai")) as worker:
        with pytest.raises(WorkerOverloaded) as overloaded:
            await worker.generate(GenerateRequest(prompt="rate-limit me"))
        with pytest.raises(WorkerBadRequest) as refused:
            await worker.generate(GenerateRequest(prompt="refuse me"))
        results = await asyncio.gather(*(worker.generate(GenerateRequest(prompt=f"p{i}", seed=i)) for i in range(3)))
    assert overloaded.value.retry_after == 7.0 and overloaded.value.status == 429
    assert refused.value.status == 400 and refused.value.field == "prompt"
    assert [r.images[0].seed for r in results] == [0, 1, 2]
