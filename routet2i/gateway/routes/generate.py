"""``POST /generate``: the native API (JSON, or the image itself with ``Accept: image/png``,
``image/jpeg`` or ``image/webp``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.image_format import DEFAULT_FORMAT, MEDIA_TYPES
from routet2i.gateway.routes.common import (
    JSON_MEDIA,
    DispatcherDep,
    SettingsDep,
    b64_images,
    encoded_images,
    forced_tier,
    negotiate_image,
    observe,
    require_client,
    routing_headers,
)
from routet2i.gateway.schemas import IMAGE_FIELDS, GenerateBody, GenerateResult, ImageOut, Timings, routing_info
from routet2i.gateway.validation import check_generation
from routet2i.http_rules import JsonBodyRoute

#: The 200 answer's media types: JSON, or one raw image.
_CONTENT: dict[str, dict[str, Any]] = {JSON_MEDIA: {}, **{media: {} for media in MEDIA_TYPES.values()}}


def build_router() -> APIRouter:
    router = APIRouter(tags=["generate"], route_class=JsonBodyRoute)

    @router.post(
        "/generate",
        response_model=GenerateResult,
        dependencies=[Depends(require_client)],
        responses={
            200: {
                "content": _CONTENT,
                "description": "JSON, or the image itself with Accept: image/png, image/jpeg or image/webp",
            }
        },
    )
    async def generate(
        body: GenerateBody, request: Request, dispatcher: DispatcherDep, settings: SettingsDep
    ) -> Response:
        forced = forced_tier(body.route, dispatcher, field="route")
        params = check_generation(
            settings.limits,
            prompt=body.prompt,
            negative_prompt=body.negative_prompt,
            width=body.width,
            height=body.height,
            steps=body.steps,
            guidance_scale=body.guidance_scale,
            seed=body.seed,
            n=body.n,
        )
        raw = negotiate_image(request.headers.get("accept"), body.output_format)
        if raw is not None and params.n != 1:
            raise InvalidField(f"Accept: {MEDIA_TYPES[raw]} returns one image: ask for n=1, or accept JSON", field="n")
        if settings.logging.log_prompts:
            request.state.log["prompt"] = params.prompt
        outcome = await observe(request, dispatcher.generate(params, forced=forced))
        routing = routing_info(outcome.decision)
        headers = routing_headers(routing)
        images = outcome.response.images
        if raw is not None:
            if images[0].seed is not None:
                headers["X-Routet2i-Seed"] = str(images[0].seed)
            data = await encoded_images(images[:1], raw, body.output_compression, routing.tier)
            return Response(data[0], media_type=MEDIA_TYPES[raw], headers=headers)
        fmt = body.output_format or DEFAULT_FORMAT
        encoded = await b64_images(images, fmt, body.output_compression, routing.tier)
        result = GenerateResult(
            images=[
                ImageOut.model_validate({IMAGE_FIELDS[fmt]: b64, "seed": i.seed})
                for i, b64 in zip(images, encoded, strict=True)
            ],
            output_format=fmt,
            model=outcome.response.model,
            routing=routing,
            timings=Timings(
                router_ms=round(outcome.router_ms, 3),
                worker_ms=round(outcome.worker_ms, 3),
                total_ms=round(outcome.total_ms, 3),
                worker=outcome.response.timings.model_dump(),
            ),
            request_id=request.state.request_id,
        )
        others = {name for f, name in IMAGE_FIELDS.items() if f != fmt}
        body_json = result.model_dump_json(exclude={"images": {"__all__": others}})
        return Response(body_json, media_type=JSON_MEDIA, headers=headers)

    return router
