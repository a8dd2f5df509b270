"""Run the gateway and both image workers in one process on one machine.

    routet2i serve [--config configs/gateway.yaml] [--edge configs/edge-sd-turbo.yaml] \
                   [--cloud configs/cloud-sdxl.yaml] [--host 0.0.0.0] [--port 8000]

The embedded default for a single GPU box: the edge and the cloud models load in this process
(each with its worker's queue, batching and limits) and the gateway calls them in-process, with
no sockets between them; ``tiers.*.url`` of the gateway config is ignored. Only the gateway's
API is served (the same endpoints as ``routet2i gateway``); the workers' own endpoints are not
exposed, so every request passes the gateway's keys, limits and budget. The gateway is ready
(``/readyz``) once a worker has loaded its model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from routet2i.config import CONFIG_DIR
from routet2i.gateway.command import add_arguments as add_gateway_arguments

HELP = "run gateway + edge worker + cloud worker in one process (single-machine default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_gateway_arguments(parser)
    parser.add_argument(
        "--edge", type=Path, default=CONFIG_DIR / "edge-sd-turbo.yaml", help="edge worker YAML (default: SD-Turbo)"
    )
    parser.add_argument(
        "--cloud", type=Path, default=CONFIG_DIR / "cloud-sdxl.yaml", help="cloud worker YAML (default: SDXL)"
    )


def run(args: argparse.Namespace) -> int:
    from routet2i.gateway.assembly import load_engine
    from routet2i.gateway.command import load_settings
    from routet2i.gateway.embedded import create_embedded_app
    from routet2i.gateway.logs import configure_logging
    from routet2i.gateway.server import serve
    from routet2i.workers.settings import WorkerSettings

    settings = load_settings(args)
    log_level = str(getattr(args, "log_level", "INFO"))
    configure_logging(log_level, json_logs=settings.logging.json_logs)
    edge, cloud = WorkerSettings.load(args.edge), WorkerSettings.load(args.cloud)
    app = create_embedded_app(settings, load_engine(settings), {"edge": edge, "cloud": cloud})
    serve(
        app,
        host=settings.server.host,
        port=settings.server.port,
        graceful_shutdown_s=settings.server.graceful_shutdown_s,
        log_level=log_level,
    )
    return 0
