"""``POST /v1/images/generations``: the OpenAI Images API, so the official ``openai`` client works
unchanged (``client.images.generate(model="auto", prompt=..., size="512x512")``).

``model``: ``auto`` (or left out) lets the router decide; a tier's name (``edge`` / ``cloud``) or
its configured model name force that tier. Images come back as ``b64_json`` only (``url`` would need
storage the gateway does not have: 400), in ``output_format`` png (default), jpeg or webp
(``output_compression``: the JPEG / WebP quality, as in the OpenAI API). The decision is in the ``routet2i`` field and in the
``X-Routet2i-*`` headers. ``quality``, ``style``, ``user`` and other OpenAI-only fields are
accepted and ignored.
"""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from routet2i.gateway.errors import BadRequest
from routet2i.gateway.image_format import DEFAULT_FORMAT
from routet2i.gateway.routes.common import (
    JSON_MEDIA,
    DispatcherDep,
    SettingsDep,
    b64_images,
    forced_tier,
    observe,
    require_client,
    routing_headers,
)
from routet2i.gateway.schemas import OpenAIImage, OpenAIImageRequest, OpenAIImagesResponse, routing_info
from routet2i.gateway.validation import check_generation
from routet2i.http_rules import JsonBodyRoute
from routet2i.routing.dispatcher import Dispatcher
from routet2i.types import AUTO

_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


def parse_size(size: str | None) -> tuple[int | None, int | None]:
    """``"512x512"`` → (512, 512); None or ``auto`` → the chosen tier's default size. Exactly that
    spelling (what the OpenAPI document states): no spaces, a lower-case ``x``."""
    if size is None or size == "auto":
        return None, None
    m = _SIZE.fullmatch(size)
    if not m:
        raise BadRequest(f"size {size!r} must look like 512x512 (WIDTHxHEIGHT) or be 'auto'", field="size")
    return int(m.group(1)), int(m.group(2))


def build_router() -> APIRouter:
    router = APIRouter(tags=["openai"], route_class=JsonBodyRoute)

    @router.post("/v1/images/generations", response_model=OpenAIImagesResponse, dependencies=[Depends(require_client)])
    async def images_generations(
        body: OpenAIImageRequest, request: Request, dispatcher: DispatcherDep, settings: SettingsDep
    ) -> Response:
        if body.stream:
            raise BadRequest("streaming image generation is not supported; set stream=false", field="stream")
        if body.response_format not in (None, "b64_json"):
            raise BadRequest(
                f"response_format {body.response_format!r} is not supported: this gateway returns images "
                "inline only; use response_format='b64_json'",
                field="response_format",
            )
        forced = forced_tier(_route_for_model(body.model, dispatcher), dispatcher, field="model")
        width, height = parse_size(body.size)
        params = check_generation(
            settings.limits,
            prompt=body.prompt,
            negative_prompt=body.negative_prompt,
            width=width,
            height=height,
            steps=body.steps,
            guidance_scale=body.guidance_scale,
            seed=body.seed,
            n=body.n or 1,
            size_field="size",
        )
        if settings.logging.log_prompts:
            request.state.log["prompt"] = params.prompt
        outcome = await observe(request, dispatcher.generate(params, forced=forced))
        routing = routing_info(outcome.decision)
        fmt = body.output_format or DEFAULT_FORMAT
        encoded = await b64_images(outcome.response.images, fmt, body.output_compression, routing.tier)
        result = OpenAIImagesResponse(
            created=int(time.time()),
            data=[OpenAIImage(b64_json=b64) for b64 in encoded],
            output_format=fmt,
            size="{}x{}".format(*outcome.size),
            routet2i=routing,
        )
        return Response(result.model_dump_json(), media_type=JSON_MEDIA, headers=routing_headers(routing))

    return router


def _route_for_model(model: str | None, dispatcher: Dispatcher) -> str:
    """OpenAI's ``model`` as a ``route``: ``auto`` (or none), a tier's name, or a tier's model name."""
    if model is None or model == AUTO:
        return AUTO
    if model in dispatcher.tiers:
        return model
    by_model = {dispatcher.model_name(tier): tier for tier in dispatcher.tiers}
    if model in by_model:
        return by_model[model]
    choices = [AUTO, *dispatcher.tiers, *by_model]
    raise BadRequest(f"model {model!r} is not served here; choose one of {choices}", field="model")
