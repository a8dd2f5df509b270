"""Deploy a Serve config file (``deploy/ray/serve.yaml``) to the connected Ray cluster and wait
until its applications run.

The same two steps as Ray's own ``serve run <config.yaml>`` (start Serve with the config's HTTP
options, then hand the whole config to the Serve controller, which builds the applications on the
cluster and applies each ``deployments:`` entry), so the file means the same here, under
``serve run`` / ``serve deploy``, and in a KubeRay RayService's ``serveConfigV2``. Ray has no
public Python call for the second step; ``ray[serve]`` is pinned to the minor release it is
written against (pyproject).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve._private import api as serve_private_api
from ray.serve.schema import ServeDeploySchema

from routet2i.config import read_yaml
from routet2i.errors import ConfigError, Routet2iError

log = logging.getLogger(__name__)

#: The application builder of routet2i in a Serve config's ``import_path``.
IMPORT_PATH = "routet2i.ray_serve.app:build_app"
#: Each replica's CPU share in ``--demo`` (no GPU; the tiny pipelines fit a fraction of a core).
DEMO_NUM_CPUS = 0.25


class DeployFailed(Routet2iError):
    """An application of the config did not reach RUNNING (the controller's message says why)."""


def load_config(
    path: Path, *, demo: bool = False, host: str | None = None, port: int | None = None
) -> ServeDeploySchema:
    """The Serve config at ``path``, validated; ``demo``: routet2i applications serve the tiny
    demo pipelines with no GPU and :data:`DEMO_NUM_CPUS` per replica; ``host``/``port``: the HTTP
    proxy's, over the file's ``http_options``."""
    data = read_yaml(path)
    if demo:
        data = demo_config(data)
    http = dict(data.get("http_options") or {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    data["http_options"] = http
    try:
        return ServeDeploySchema.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a valid Serve config: {exc}") from exc


def demo_config(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every routet2i application switched to the demo pipelines, on CPU shares."""
    data = copy.deepcopy(data)
    apps = [app for app in data.get("applications") or [] if app.get("import_path") == IMPORT_PATH]
    if not apps:
        raise ConfigError(f"the Serve config has no application with import_path {IMPORT_PATH}")
    for app in apps:
        app["args"] = {**(app.get("args") or {}), "demo": True}
        for deployment in app.get("deployments") or []:
            actor = dict(deployment.get("ray_actor_options") or {})
            actor["num_gpus"] = 0
            actor["num_cpus"] = DEMO_NUM_CPUS
            deployment["ray_actor_options"] = actor
    return data


def deploy(config: ServeDeploySchema, *, timeout_s: float = 600.0) -> None:
    """Start Serve (HTTP proxy per the config) on the connected cluster, deploy ``config`` and
    wait until all its applications are RUNNING; :class:`DeployFailed` when one fails or time runs out."""
    client = serve_private_api.serve_start(
        http_options=config.http_options.model_dump(),
        grpc_options=config.grpc_options.model_dump(),
        proxy_location=config.proxy_location,
        controller_options=config.controller_options,
    )
    client.deploy_apps(config)
    wait_running([app.name for app in config.applications], timeout_s=timeout_s)


def wait_running(names: list[str], *, timeout_s: float) -> None:
    """Return once every application in ``names`` is RUNNING."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, str] = {}
    while True:
        apps = serve.status().applications
        last = {name: apps[name].status.value if name in apps else "NOT_STARTED" for name in names}
        for name in names:
            if last[name] in ("DEPLOY_FAILED", "UNHEALTHY"):
                raise DeployFailed(f"Serve application {name!r} is {last[name]}: {apps[name].message}")
        if all(status == "RUNNING" for status in last.values()):
            return
        if time.monotonic() > deadline:
            raise DeployFailed(f"Serve applications not running after {timeout_s:g} s: {last}")
        time.sleep(0.25)
