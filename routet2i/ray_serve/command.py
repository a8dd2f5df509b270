"""Run the gateway and its tiers on Ray Serve, from a Serve config file.

    routet2i ray [--config deploy/ray/serve.yaml] [--address auto] [--host 0.0.0.0] [--port 8000]
    routet2i ray --demo          # any machine, offline: tiny random-weight pipelines on CPU shares

The gateway is the ingress deployment (its API at the root of Serve's HTTP proxy, the same
endpoints as ``routet2i gateway``); each tier is a deployment of workers (the worker's backend,
limits, queue and batching, one model copy per replica), with the replicas, GPUs, autoscaling and
back-pressure of the config's ``deployments:`` (see deploy/ray/serve.yaml). A tier at capacity
makes the gateway answer 429 with Retry-After, as for HTTP workers.

Without ``--address`` (and without RAY_ADDRESS) a local Ray cluster is started in this process
and stops with it; with one, the config is deployed to that cluster, and ``--detach`` returns once
it runs (it keeps running; ``serve shutdown`` removes it). Otherwise the command serves until
SIGINT / SIGTERM, then removes the applications it deployed.

``--demo`` switches the config's routet2i application to the tiny random-weight pipelines of
``routet2i serve --demo`` (built on each replica's node; the images are noise), with no GPU and a
quarter core per replica. Gateway replicas > 1 need the shared budget (``budget.store: redis``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

HELP = "run the gateway and its tiers on Ray Serve (a Serve config file: replicas, GPUs, autoscaling)"

#: The Serve config used when --config is not given (relative to the working directory).
DEFAULT_CONFIG = Path("deploy/ray/serve.yaml")

log = logging.getLogger("routet2i.ray_serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"Serve config YAML (default: {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="tiny random-weight pipelines built in code instead of the config's tiers, no GPU: runs anywhere, offline",
    )
    parser.add_argument(
        "--address", default=None, help="Ray cluster to deploy to (default: RAY_ADDRESS, else a local cluster)"
    )
    parser.add_argument(
        "--num-cpus", type=float, default=None, help="CPUs of the local cluster (default: all; ignored with --address)"
    )
    parser.add_argument("--host", default=None, help="HTTP proxy interface (default: the config's http_options)")
    parser.add_argument("--port", type=int, default=None, help="HTTP proxy port (default: the config's http_options)")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the applications to run (default 900)"
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="return once deployed (needs --address or RAY_ADDRESS: a cluster that outlives this command)",
    )


def run(args: argparse.Namespace) -> int:
    from routet2i.errors import ConfigError

    if not args.config.is_file():
        raise ConfigError(f"Serve config not found: {args.config} (give --config; the shipped one is {DEFAULT_CONFIG})")
    address = args.address or os.environ.get("RAY_ADDRESS")
    if args.detach and not address:
        raise ConfigError("--detach needs a cluster that outlives this command: give --address or set RAY_ADDRESS")

    import ray
    from ray import serve

    from routet2i.ray_serve.deploy import deploy, load_config

    config = load_config(args.config, demo=args.demo, host=args.host, port=args.port)
    if args.demo:
        from routet2i.testing.demo import DEMO_NOTICE

        log.warning(DEMO_NOTICE)
    if address:
        ray.init(address=address, namespace="serve")
    else:
        ray.init(num_cpus=args.num_cpus, namespace="serve", include_dashboard=False)
    names = [app.name for app in config.applications]
    try:
        deploy(config, timeout_s=args.timeout)
        http = config.http_options
        log.info("serving %s on http://%s:%d (Serve applications %s)", args.config, http.host, http.port, names)
        if args.detach:
            return 0
        _wait_for_stop()
    finally:
        if not args.detach:
            for name in names:
                serve.delete(name)
            if not address:
                serve.shutdown()  # type: ignore[no-untyped-call]  # ray: unannotated
            ray.shutdown()
    return 0


def _wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
