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
from typing import Any

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
    from routet2i.gateway.command import serve_settings
    from routet2i.gateway.embedded import create_embedded_app
    from routet2i.types import CLOUD, EDGE
    from routet2i.workers.settings import WorkerSettings

    def make_app(settings: Any) -> Any:
        edge, cloud = WorkerSettings.load(args.edge), WorkerSettings.load(args.cloud)
        return create_embedded_app(settings, load_engine(settings), {EDGE: edge, CLOUD: cloud})

    return serve_settings(args, make_app)
