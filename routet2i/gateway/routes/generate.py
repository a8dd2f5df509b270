"""``POST /generate``: the native API (JSON, or the PNG itself with ``Accept: image/png``)."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from routet2i.gateway.errors import InvalidField, UpstreamError
from routet2i.gateway.routes.common import (
    DispatcherDep,
    SettingsDep,
    accepts_png,
    forced_tier,
    observe,
    require_client,
    routing_headers,
)
from routet2i.gateway.schemas import GenerateBody, GenerateResult, ImageOut, Timings, routing_info
from routet2i.gateway.validation import check_generation


def build_router() -> APIRouter:
    router = APIRouter(tags=["generate"])

    @router.post(
        "/generate",
        response_model=GenerateResult,
        dependencies=[Depends(require_client)],
        responses={200: {"content": {"image/png": {}}, "description": "JSON, or the PNG with Accept: image/png"}},
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
        png = accepts_png(request.headers.get("accept"))
        if png and params.n != 1:
            raise InvalidField("Accept: image/png returns one image: ask for n=1, or accept JSON", field="n")
        if settings.logging.log_prompts:
            request.state.log["prompt"] = params.prompt
        outcome = await observe(request, dispatcher.generate(params, forced=forced))
        routing = routing_info(outcome.decision)
        headers = routing_headers(routing)
        images = outcome.response.images
        if png:
            if images[0].seed is not None:
                headers["X-Routet2i-Seed"] = str(images[0].seed)
            try:
                png_bytes = base64.b64decode(images[0].b64_png, validate=True)
            except binascii.Error:
                raise UpstreamError(f"the {routing.tier} worker answered an image that is not base64") from None
            return Response(png_bytes, media_type="image/png", headers=headers)
        result = GenerateResult(
            images=[ImageOut(b64_png=i.b64_png, seed=i.seed) for i in images],
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
        return Response(result.model_dump_json(), media_type="application/json", headers=headers)

    return router
