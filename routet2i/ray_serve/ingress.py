"""The gateway as the ingress deployment of the Serve application (``/`` on Serve's HTTP proxy).

Each replica builds the ordinary gateway (:func:`routet2i.gateway.app.create_app`) from the
ordinary :class:`~routet2i.gateway.settings.GatewaySettings` (the router checkpoint, the tiers'
model names and timeouts, the budget, limits, keys), with a
:class:`~routet2i.ray_serve.tier_client.ServeTierClient` per tier as its workers instead of HTTP
clients; ``tiers.*.url`` is not used. Whatever the settings choose for the budget applies as it
does in ``routet2i gateway``: several gateway replicas only share one budget when the settings
put it in a shared store (``budget.store: redis``); with the in-memory budget each replica counts
its own window, so keep ``num_replicas: 1`` for the gateway then.

Lifespan: the gateway needs its FastAPI lifespan (it starts the router batcher and the tiers'
health checks, and stops them). Serve 2.60 runs an ingress app's lifespan itself: startup right
after ``__serve_build_asgi_app__`` returns the app (before the replica takes traffic; a failed
startup fails the replica), shutdown from the replica's ``__del__`` when Serve stops it. So the app
is built late (``serve.ingress()`` without an app, then ``__serve_build_asgi_app__``), in the
replica, with the tier handles the constructor received, and this class defines no ``__del__`` of
its own (that would replace the wrapper's, which runs the shutdown). :meth:`check_health` fails the
replica if the lifespan did not start the router, so a Serve release that stopped running
lifespans would be seen at once, not as a gateway that never routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from routet2i.gateway.app import create_app
from routet2i.gateway.assembly import load_engine
from routet2i.gateway.settings import GatewaySettings
from routet2i.ray_serve.tier_client import DEFAULT_OVERLOAD_RETRY_AFTER_S, ServeTierClient
from routet2i.routing.ports import ImageWorker
from routet2i.types import TierName


def tier_clients(
    settings: GatewaySettings,
    handles: Mapping[TierName, DeploymentHandle[Any]],
    *,
    overload_retry_after: float = DEFAULT_OVERLOAD_RETRY_AFTER_S,
) -> dict[TierName, ImageWorker]:
    """A :class:`ServeTierClient` per tier of ``settings``, with the tier's timeout."""
    missing = [tier for tier in settings.tiers.names if tier not in handles]
    if missing:
        raise ValueError(f"no deployment for the tiers {missing}; the application has {sorted(handles)}")
    return {
        tier: ServeTierClient(
            handles[tier],
            tier=tier,
            timeout=settings.tiers.get(tier).timeout_s,
            probe_timeout=settings.health.timeout_s,
            overload_retry_after=overload_retry_after,
        )
        for tier in settings.tiers.names
    }


class GatewayIngress:
    """A gateway replica; ``tiers``: the tier deployments (Serve passes their handles)."""

    def __init__(
        self,
        settings: GatewaySettings,
        tiers: Mapping[TierName, DeploymentHandle[Any]],
        overload_retry_after: float = DEFAULT_OVERLOAD_RETRY_AFTER_S,
    ) -> None:
        workers = tier_clients(settings, tiers, overload_retry_after=overload_retry_after)
        self.gateway_app = create_app(settings, engine=load_engine(settings), workers=workers)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """The gateway app; Serve runs its lifespan next (module docstring)."""
        return self.gateway_app

    def check_health(self) -> None:
        """Serve's periodic check: the lifespan must have started the router."""
        if not self.gateway_app.state.dispatcher.router_running:
            raise RuntimeError("the gateway's lifespan has not started its router (dispatcher not running)")


#: The ingress deployment (``serve.ingress()`` late-bound: the app comes from
#: ``__serve_build_asgi_app__``). Applied after the class exists, so it pickles by reference.
GatewayDeployment = serve.deployment(
    name="gateway",
    # defaults only: the Serve config (deploy/ray/serve.yaml) sets the gateway's own
    ray_actor_options={"num_cpus": 1},
    num_replicas=1,
    max_ongoing_requests=512,
    graceful_shutdown_timeout_s=30,
)(serve.ingress()(GatewayIngress))
