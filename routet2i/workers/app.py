"""The worker service: a FastAPI app serving one image backend.

Endpoints: ``POST /v1/generate``, ``GET /healthz`` (the process is alive; 503 only after a failed
load), ``GET /readyz`` (200 once the model is loaded and warmed), ``GET /v1/info`` (model,
defaults, limits, queue), ``GET /metrics`` (Prometheus). All state lives on
``app.state.runtime`` (a :class:`~routet2i.workers.runtime.WorkerRuntime`); the lifespan starts
the background load and stops everything on shutdown.

Deadline: a request may send ``X-Request-Timeout: <seconds>`` (its remaining time budget, so no
clock agreement is needed); without it, ``queue.default_timeout_s`` applies. A request still
queued when its time runs out, or whose client disconnects, is dropped and never generated.

Request ids: the gateway's ``X-Request-ID`` (or a new id) is echoed back and carried by every log
line written while the request is served, and by its access-log line (``routet2i.workers.access``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Scope

from routet2i import __version__
from routet2i.api_docs import install_docs
from routet2i.body_limit import BodyLimitMiddleware
from routet2i.http_rules import JsonBodyRoute
from routet2i.request_id import RequestIdMiddleware
from routet2i.workers.auth import WorkerKeys
from routet2i.workers.backend import ImageBackend
from routet2i.workers.error_handlers import count_error, install_error_handlers, internal_error_body
from routet2i.workers.errors import WorkerBadRequest
from routet2i.workers.loading import build_backend
from routet2i.workers.openapi import install_openapi
from routet2i.workers.params import resolve_request
from routet2i.workers.runtime import WorkerRuntime
from routet2i.workers.scheduler import GenerationScheduler, JobOutcome, Ticket
from routet2i.workers.schemas import (
    TIMEOUT_HEADER,
    ErrorResponse,
    GeneratedImage,
    GenerateRequest,
    GenerateResponse,
    GenerationParameters,
    QueueState,
    Timings,
    WorkerInfo,
)
from routet2i.workers.settings import WorkerSettings

#: Status logged for a request whose client went away before its answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499

_ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Malformed body, or the hosted provider refused the prompt"),
        (401, "Missing or invalid API key (security.api_keys)"),
        (405, "Method not allowed (Allow lists the path's methods)"),
        (413, "Body too large"),
        (415, "The body is not sent as application/json"),
        (422, "Invalid request (field named)"),
        (429, "Queue full; see Retry-After"),
        (500, "Generation failed"),
        (502, "The hosted provider failed"),
        (503, "Model loading or failed"),
        (504, "Deadline passed"),
    )
}

#: Health answers: the same body with 503 as with 200.
_HEALTH_503 = {503: {"description": "Not alive / not ready (same body)", "model": dict[str, Any]}}


def create_app(settings: WorkerSettings, backend: ImageBackend | None = None) -> FastAPI:
    """A worker app for ``settings``; ``backend`` defaults to the one the settings name."""
    runtime = WorkerRuntime(settings, backend if backend is not None else build_backend(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=f"routet2i worker: {settings.model_name}",
        version=__version__,
        lifespan=lifespan,
        description=__doc__,
        docs_url=None,  # served from packaged assets instead of a CDN (install_docs)
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.keys = WorkerKeys(settings.security.api_keys)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(WorkerRequestMiddleware)  # outermost: a 413 has an id and an access line too
    app.include_router(_build_router(settings))
    install_docs(app)
    install_openapi(app, settings.limits)
    return app


class WorkerRequestMiddleware(RequestIdMiddleware):
    """The shared request-id middleware with the worker's loggers and its 500 (counted)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, access_logger="routet2i.workers.access", error_logger="routet2i.workers")

    def internal_error_body(self, scope: Scope, request_id: str) -> dict[str, Any]:
        count_error(scope.get("app"), "internal_error")
        return internal_error_body()


def _runtime(request: Request) -> WorkerRuntime:
    runtime: WorkerRuntime = request.app.state.runtime
    return runtime


async def _require_key(request: Request) -> None:
    """FastAPI dependency: an accepted key, when ``security.api_keys`` is set (before the body
    is validated, so an unauthenticated caller learns nothing about the API)."""
    keys: WorkerKeys = request.app.state.keys
    keys.check(request)


def parse_timeout(value: str | None, default: float) -> float:
    """The ``X-Request-Timeout`` header in seconds (positive, finite), or ``default``."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise WorkerBadRequest(
            f"{TIMEOUT_HEADER} must be a positive number of seconds, got {value!r}", field=TIMEOUT_HEADER
        )
    return seconds


async def _client_disconnected(request: Request) -> None:
    """Return once the client has gone away (the body is already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _outcome_unless_disconnected(
    request: Request, scheduler: GenerationScheduler, ticket: Ticket
) -> JobOutcome | None:
    """The ticket's outcome, or None (and the request withdrawn) if the client went away."""
    result = asyncio.ensure_future(scheduler.result(ticket))
    watch = asyncio.ensure_future(_client_disconnected(request))
    try:
        await asyncio.wait({result, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not result.done():
            result.cancel()  # scheduler.result withdraws the ticket on cancellation
            await asyncio.gather(result, return_exceptions=True)
    if result.cancelled():
        return None
    return result.result()


def _build_router(settings: WorkerSettings) -> APIRouter:
    router = APIRouter(route_class=JsonBodyRoute)

    @router.post(
        "/v1/generate",
        response_model=GenerateResponse,
        responses=_ERRORS,  # type: ignore[arg-type]
        summary="Generate images",
        dependencies=[Depends(_require_key)],
    )
    async def generate(body: GenerateRequest, request: Request) -> GenerateResponse | Response:
        arrived = time.perf_counter()
        runtime = _runtime(request)
        scheduler = runtime.require_ready()
        timeout_s = parse_timeout(request.headers.get(TIMEOUT_HEADER), runtime.settings.queue.default_timeout_s)
        job = resolve_request(
            body, runtime.settings.defaults, runtime.settings.limits, runtime.backend.supported_fields
        )
        runtime.backend.validate(job)
        ticket = scheduler.submit(job, timeout_s)
        outcome = await _outcome_unless_disconnected(request, scheduler, ticket)
        if outcome is None:
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        encoded = [
            GeneratedImage(b64_png=base64.b64encode(im.png).decode("ascii"), seed=im.seed) for im in outcome.images
        ]
        return GenerateResponse(
            images=encoded,
            model=runtime.settings.model_name,
            parameters=GenerationParameters(
                width=job.width,
                height=job.height,
                steps=job.steps,
                guidance_scale=job.guidance_scale,
                negative_prompt=job.negative_prompt,
            ),
            timings=Timings(
                queue_ms=outcome.queue_s * 1000.0,
                generate_ms=outcome.generate_s * 1000.0,
                total_ms=(time.perf_counter() - arrived) * 1000.0,
                batch_images=outcome.batch_images,
                batch_requests=outcome.batch_requests,
            ),
        )

    @router.get("/healthz", summary="Liveness", responses=_HEALTH_503)  # type: ignore[arg-type]
    async def healthz(request: Request) -> JSONResponse:
        runtime = _runtime(request)
        body = {"status": runtime.state, "error": runtime.error}
        return JSONResponse(body, status_code=503 if runtime.state == "failed" else 200)

    @router.get("/readyz", summary="Readiness: model loaded and warmed", responses=_HEALTH_503)  # type: ignore[arg-type]
    async def readyz(request: Request) -> JSONResponse:
        runtime = _runtime(request)
        body = {"ready": runtime.ready, "status": runtime.state, "error": runtime.error}
        return JSONResponse(body, status_code=200 if runtime.ready else 503)

    @router.get(
        "/v1/info",
        response_model=WorkerInfo,
        summary="Model, defaults, limits, queue",
        responses={401: _ERRORS[401]},
        dependencies=[Depends(_require_key)],
    )
    async def info(request: Request) -> WorkerInfo:
        runtime = _runtime(request)
        s = runtime.settings
        scheduler = runtime.scheduler
        return WorkerInfo(
            model=s.model_name,
            backend=runtime.backend.kind,
            tier=s.tier,
            ready=runtime.ready,
            defaults=s.defaults.model_dump(),
            limits=s.limits.model_dump(),
            batching={**s.batching.model_dump(), "active": s.batching.enabled and runtime.backend.batchable},
            queue=QueueState(
                pending=scheduler.pending if scheduler else 0,
                pending_images=scheduler.pending_images if scheduler else 0,
                max_pending=s.queue.max_pending,
                running=scheduler.running if scheduler else 0,
            ),
            supported_fields=list(runtime.backend.supported_fields),
            backend_details=runtime.backend.details(),
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
