"""The gateway's FastAPI app factory.

:func:`create_app` takes the predictor and the tiers' workers ready-made (tests pass doubles;
:mod:`routet2i.gateway.assembly` builds the product's from settings) and wires them into the
routing core's :class:`~routet2i.routing.dispatcher.Dispatcher`, which the routes call. The app's
lifespan starts the router batcher and the periodic health checks, and closes the workers at the end.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from routet2i import __version__
from routet2i.api_docs import install_docs
from routet2i.body_limit import BodyLimitMiddleware
from routet2i.budget_store.factory import build_ledger
from routet2i.gateway.errors import install_error_handlers
from routet2i.gateway.loading import product_loader
from routet2i.gateway.metrics import GatewayMetrics
from routet2i.gateway.middleware import RequestContextMiddleware
from routet2i.gateway.openapi import install_openapi
from routet2i.gateway.routes import budget, checkpoint, decisions, generate, openai_images, ops
from routet2i.gateway.routes.common import ROUTING_HEADERS
from routet2i.gateway.schemas import ERROR_RESPONSES
from routet2i.gateway.security import KeyRing
from routet2i.gateway.settings import GatewaySettings
from routet2i.pipeline.shadow_store import DirectoryShadowStore
from routet2i.routing.dispatcher import Dispatcher
from routet2i.routing.ports import ImageWorker, PredictorPort
from routet2i.routing.reload import PredictorLoader, RouterReloader
from routet2i.routing.shadow import ShadowSink
from routet2i.types import TierName

#: Extra context managers entered before the service starts (e.g. in-process workers' own
#: lifespans for ``routet2i serve``), each built from the app.
Companion = Callable[[FastAPI], AbstractAsyncContextManager[object]]


def create_app(
    settings: GatewaySettings,
    *,
    engine: PredictorPort,
    workers: Mapping[TierName, ImageWorker],
    clock: Callable[[], float] = time.monotonic,
    companions: tuple[Companion, ...] = (),
    engine_loader: PredictorLoader | None = None,
    shadow_sink: ShadowSink | None = None,
) -> FastAPI:
    """The gateway app for ``settings`` with this router ``engine`` and these ``workers``.
    ``engine_loader`` loads a checkpoint for a hot reload (default: the product's checkpoint loader);
    ``shadow_sink`` stores shadow pairs (default: the folder ``learning.store`` when shadowing is on)."""
    metrics = GatewayMetrics(settings.tiers.names)
    if shadow_sink is None and settings.learning.shadow.shadow_rate > 0:
        shadow_sink = DirectoryShadowStore(settings.learning.store)
    config = settings.dispatch_config()
    ledger = build_ledger(
        settings.budget, engine.calibrated_threshold, config.tier_names, request_timeout_s=config.request_timeout_s
    )
    service = Dispatcher(config, engine, workers, clock=clock, observer=metrics, ledger=ledger, shadow_sink=shadow_sink)
    reloader = RouterReloader(service, engine_loader or product_loader(settings), settings.router.checkpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for companion in companions:
                await stack.enter_async_context(companion(app))
            await service.start()
            stack.push_async_callback(service.stop)
            stack.enter_context(reloader.sighup())  # SIGHUP reloads the router checkpoint
            stack.push_async_callback(reloader.aclose)
            yield

    app = FastAPI(
        title="routet2i gateway",
        version=__version__,
        description="Routes text-to-image requests between a light edge model and a large cloud model.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served from packaged assets instead of a CDN (install_docs)
        redoc_url=None,
    )
    app.state.dispatcher = service
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.reloader = reloader
    app.state.client_keys = KeyRing(settings.security.api_keys)
    app.state.admin_keys = KeyRing([settings.security.admin_key] if settings.security.admin_key else [])
    install_error_handlers(app)
    for module in (generate, openai_images, decisions, budget, ops, checkpoint):
        app.include_router(module.build_router())
    install_docs(app)
    install_openapi(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    if settings.security.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.security.cors_origins,
            allow_methods=["GET", "POST", "PUT", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Accept"],
            expose_headers=list(ROUTING_HEADERS),
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
