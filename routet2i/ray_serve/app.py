"""The Serve application builder: ``import_path: routet2i.ray_serve.app:build_app`` in a Serve config.

Serve calls :func:`build_app` with the application's ``args`` (:class:`RayAppArgs`), on the
cluster, when the config is deployed (``routet2i ray``, ``serve run``/``serve deploy``, or KubeRay's
RayService). It reads the gateway's and the tiers' settings there (YAML files plus their usual
``ROUTET2I_GATEWAY_`` / ``ROUTET2I_WORKER_`` environment overrides) and binds one
:data:`~routet2i.ray_serve.tier.TierDeployment` per tier, named after the tier, behind the
:data:`~routet2i.ray_serve.ingress.GatewayDeployment` named ``gateway``. Replicas,
resources, autoscaling and back-pressure are the config's ``deployments:`` entries of those names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from ray.serve import Application

from routet2i.config import CONFIG_DIR, StrictModel, validate_or_explain
from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings
from routet2i.ray_serve.ingress import GatewayDeployment
from routet2i.ray_serve.tier import TierDeployment
from routet2i.ray_serve.tier_client import DEFAULT_OVERLOAD_RETRY_AFTER_S
from routet2i.workers.settings import WorkerSettings

#: A settings source: a YAML file (a path, or the name of a packaged config such as
#: ``edge-sd-turbo.yaml``), or the settings themselves as a mapping.
Source = str | dict[str, Any]


class RayAppArgs(StrictModel):
    """The ``args:`` of the routet2i application in a Serve config."""

    #: The gateway's settings (null: the packaged ``gateway.yaml``).
    gateway: Source | None = None
    #: Each tier's worker settings by tier name (the gateway's tier names; ignored with ``demo``).
    tiers: dict[str, Source] = Field(default_factory=dict)
    #: Serve the tiny random-weight demo pipelines (built on each replica's node) instead.
    demo: bool = False
    #: Retry-After (seconds) of a back-pressure rejection whose deployment's
    #: ``backpressure_config.retry_after_s`` is unset.
    overload_retry_after_s: float = Field(default=DEFAULT_OVERLOAD_RETRY_AFTER_S, gt=0)


def _path(value: str) -> Path:
    """``value`` as a file: a path, else a packaged config of that name."""
    path = Path(value)
    if not path.is_file() and (CONFIG_DIR / value).is_file():
        return CONFIG_DIR / value
    return path


def gateway_settings(source: Source | None) -> GatewaySettings:
    if isinstance(source, dict):
        return validate_or_explain(GatewaySettings, source, "the Serve config's args.gateway")
    return GatewaySettings.load(None if source is None else _path(source))


def worker_settings(tier: str, source: Source) -> WorkerSettings:
    if isinstance(source, dict):
        return validate_or_explain(WorkerSettings, source, f"the Serve config's args.tiers.{tier}")
    return WorkerSettings.load(_path(source))


def build_app(args: RayAppArgs | dict[str, Any]) -> Application:
    """The routet2i Serve application for ``args`` (the config's ``args:`` mapping)."""
    options = args if isinstance(args, RayAppArgs) else validate_or_explain(RayAppArgs, args, "the Serve config's args")
    settings = gateway_settings(options.gateway)
    names = settings.tiers.names
    if options.demo:
        from routet2i.testing.demo import DemoWorkers, demo_gateway

        # the replicas build their own pipelines; only the demo's model names are used here
        settings = demo_gateway(settings, DemoWorkers(edge=Path("edge.yaml"), cloud=Path("cloud.yaml")))
        tiers = {tier: TierDeployment.options(name=tier).bind(tier, None, True) for tier in names}
    else:
        missing = [tier for tier in names if tier not in options.tiers]
        if missing:
            raise ConfigError(f"args.tiers names no worker config for the tiers {missing} (the gateway's tiers)")
        tiers = {
            tier: TierDeployment.options(name=tier).bind(tier, worker_settings(tier, options.tiers[tier]))
            for tier in names
        }
    return GatewayDeployment.bind(settings, tiers, options.overload_retry_after_s)
