"""Build the product's gateway from settings: the router checkpoint and HTTP worker clients."""

from __future__ import annotations

from fastapi import FastAPI

from routet2i.gateway.app import create_app
from routet2i.gateway.loading import product_loader
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.ports import PredictorPort
from routet2i.routing.settings import TierOptions
from routet2i.types import TierName
from routet2i.workers.client import WorkerClient


def worker_client(options: TierOptions, *, probe_timeout: float, **kwargs: object) -> WorkerClient:
    """A client of one tier's worker, with its key (if any) as ``Authorization: Bearer``."""
    headers = {}
    if options.api_key is not None:
        headers["Authorization"] = f"Bearer {options.api_key.get_secret_value()}"
    return WorkerClient(
        options.url,
        timeout=options.timeout_s,
        probe_timeout=probe_timeout,
        headers=headers,
        **kwargs,  # type: ignore[arg-type]
    )


def http_workers(settings: GatewaySettings) -> dict[TierName, WorkerClient]:
    """One HTTP client per configured tier."""
    return {tier: worker_client(opts, probe_timeout=settings.health.timeout_s) for tier, opts in settings.tiers.items()}


def load_engine(settings: GatewaySettings) -> PredictorPort:
    """The router model named by ``router.checkpoint`` (or the packaged default), loaded once."""
    return product_loader(settings)(settings.router.checkpoint)


def build_app(settings: GatewaySettings) -> FastAPI:
    """The gateway app as ``routet2i gateway`` runs it."""
    return create_app(settings, engine=load_engine(settings), workers=http_workers(settings))
