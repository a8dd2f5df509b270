"""Build the product's gateway from settings: the router checkpoint and HTTP worker clients.

A tier with one worker URL gets one :class:`~routet2i.workers.client.WorkerClient`, exactly as
before replicas existed (the tier's own breaker in the routing core is then that worker's); a tier
with several (``tiers.*.urls``) gets a :class:`~routet2i.routing.replicas.ReplicaSet` of one client
per URL, which balances, health-checks and retries across them.
"""

from __future__ import annotations

from fastapi import FastAPI

from routet2i.gateway.app import create_app
from routet2i.gateway.loading import product_loader
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.ports import ImageWorker, PredictorPort
from routet2i.routing.replicas import ReplicaSet
from routet2i.routing.settings import HealthOptions, TierOptions
from routet2i.types import TierName
from routet2i.workers.client import WorkerClient

#: A replica's own health check must end before the tier's check (``health.timeout_s``) gives
#: up on the whole set, so one hung replica is counted down without hiding the others' answers.
_REPLICA_PROBE_SHARE = 0.9


def worker_client(
    options: TierOptions, *, probe_timeout: float, url: str | None = None, **kwargs: object
) -> WorkerClient:
    """A client of one tier's worker at ``url`` (default: the tier's ``url``), with the tier's key
    (if any) as ``Authorization: Bearer``."""
    headers = {}
    if options.api_key is not None:
        headers["Authorization"] = f"Bearer {options.api_key.get_secret_value()}"
    return WorkerClient(
        options.url if url is None else url,
        timeout=options.timeout_s,
        probe_timeout=probe_timeout,
        headers=headers,
        **kwargs,  # type: ignore[arg-type]
    )


def tier_worker(tier: TierName, options: TierOptions, health: HealthOptions, **kwargs: object) -> ImageWorker:
    """The worker of one tier: a :class:`WorkerClient` for one URL, a :class:`ReplicaSet` of
    clients (each replica with its own breaker of ``health``'s policy) for several."""
    urls = options.replica_urls
    if len(urls) == 1:
        return worker_client(options, probe_timeout=health.timeout_s, url=urls[0], **kwargs)
    probe_timeout = health.timeout_s * _REPLICA_PROBE_SHARE
    clients: dict[str, ImageWorker] = {
        url: worker_client(options, probe_timeout=probe_timeout, url=url, **kwargs) for url in urls
    }
    return ReplicaSet(tier, clients, health.breaker_policy(), probe_timeout_s=probe_timeout)


def http_workers(settings: GatewaySettings) -> dict[TierName, ImageWorker]:
    """One HTTP worker per configured tier (a replica set where a tier names several URLs)."""
    return {tier: tier_worker(tier, opts, settings.health) for tier, opts in settings.tiers.items()}


def load_engine(settings: GatewaySettings) -> PredictorPort:
    """The router model named by ``router.checkpoint`` (or the packaged default), loaded once."""
    return product_loader(settings)(settings.router.checkpoint)


def build_app(settings: GatewaySettings) -> FastAPI:
    """The gateway app as ``routet2i gateway`` runs it."""
    return create_app(settings, engine=load_engine(settings), workers=http_workers(settings))
