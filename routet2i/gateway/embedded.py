"""The gateway with both workers in its own process (``routet2i serve``).

Each worker is the worker service's own app (:func:`routet2i.workers.app.create_app`: its queue,
batching, limits and model loading), called through an in-process ASGI transport instead of a
socket. The workers' lifespans (model loading, their schedulers) run inside the gateway's: the
edge model loads before the gateway starts serving, the cloud model in the background after it
(the gateway's health checks take the cloud tier into rotation once it is ready).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from routet2i.gateway.app import Companion, create_app
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.ports import PredictorPort
from routet2i.types import TierName
from routet2i.workers.client import WorkerClient
from routet2i.workers.settings import WorkerSettings


def create_embedded_app(
    settings: GatewaySettings,
    engine: PredictorPort,
    worker_settings: Mapping[TierName, WorkerSettings],
    *,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """A gateway whose tiers are in-process worker apps built from ``worker_settings``."""
    from routet2i.workers.app import create_app as create_worker_app

    tiers = settings.tiers.names
    worker_apps = {tier: create_worker_app(worker_settings[tier]) for tier in tiers}
    clients = {
        tier: WorkerClient(
            f"http://{tier}.in-process",
            timeout=settings.tiers.get(tier).timeout_s,
            probe_timeout=settings.health.timeout_s,
            connect_retries=0,
            transport=httpx.ASGITransport(app=worker_apps[tier]),
        )
        for tier in tiers
    }
    # Two pipelines loading at once in one process race inside transformers / diffusers (their
    # meta-device initialisation is process-wide), so the cheap tier (the edge) loads first, then
    # the expensive one (the cloud) in the background.
    companions = tuple(_lifespan_of(worker_apps[tier], wait_loaded=tier == tiers.cheap) for tier in tiers)
    app = create_app(settings, engine=engine, workers=clients, clock=clock or time.monotonic, companions=companions)
    app.state.worker_apps = worker_apps
    return app


def _lifespan_of(worker_app: FastAPI, *, wait_loaded: bool) -> Companion:
    """Enter the worker app's lifespan (which starts loading its model in the background); with
    ``wait_loaded``, return only once that load has finished or failed."""

    @asynccontextmanager
    async def enter(_: FastAPI) -> AsyncIterator[object]:
        async with worker_app.router.lifespan_context(worker_app) as state:
            if wait_loaded:
                await worker_app.state.runtime.wait_settled()
            yield state

    return enter
