"""Run the gateway and both image workers in one process on one machine.

    routet2i serve [--config configs/gateway.yaml] [--edge configs/edge-sd-turbo.yaml]
                   [--cloud configs/cloud-sdxl.yaml] [--host 0.0.0.0] [--port 8000]
    routet2i serve --demo        # any machine, offline, in seconds: tiny models, noise images

The embedded default for a single GPU box: the edge and the cloud models load in this process
(each with its worker's queue, batching and limits) and the gateway calls them in-process, with
no sockets between them; ``tiers.*.url`` of the gateway config is ignored. Only the gateway's
API is served (the same endpoints as ``routet2i gateway``); the workers' own endpoints are not
exposed, so every request passes the gateway's keys, limits and budget. The gateway is ready
(``/readyz``) once a worker has loaded its model.

``--demo`` serves the same stack on tiny real-architecture pipelines built in code (random
weights: the images are noise, and the banner and the tiers' model names say so) with the shipped
router and budget: every endpoint, the OpenAI client, metrics and reload work against it.

Before anything loads, both workers' models are checked (:mod:`routet2i.workers.preflight`): one
that cannot load here (not in the local Hugging Face cache with the hub offline or unreachable, a
local folder without ``model_index.json``, a hosted API without its key) ends the command within
seconds, exit status 2, with one line naming the model, the cause and the fixes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from routet2i.config import CONFIG_DIR
from routet2i.gateway.command import add_arguments as add_gateway_arguments

HELP = "run gateway + edge worker + cloud worker in one process (single-machine default)"

#: The last fix a failed preflight offers (:mod:`routet2i.workers.preflight`).
DEMO_FIX = "run `routet2i serve --demo` (tiny random-weight models built in code, noise images)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_gateway_arguments(parser)
    parser.add_argument(
        "--edge", type=Path, default=CONFIG_DIR / "edge-sd-turbo.yaml", help="edge worker YAML (default: SD-Turbo)"
    )
    parser.add_argument(
        "--cloud", type=Path, default=CONFIG_DIR / "cloud-sdxl.yaml", help="cloud worker YAML (default: SDXL)"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="tiny random-weight models built in code instead of --edge/--cloud: runs anywhere, offline; images are noise",
    )
    parser.add_argument(
        "--demo-dir", type=Path, default=None, help="where --demo builds its models (default: a temporary folder)"
    )


def run(args: argparse.Namespace) -> int:
    from routet2i.gateway.assembly import load_engine
    from routet2i.gateway.command import serve_settings
    from routet2i.gateway.embedded import create_embedded_app
    from routet2i.types import CLOUD, EDGE
    from routet2i.workers.preflight import check_models
    from routet2i.workers.settings import WorkerSettings

    edge_file, cloud_file = args.edge, args.cloud
    demo = None
    if args.demo:
        import tempfile

        from routet2i.testing.demo import build_demo_workers

        demo = build_demo_workers(args.demo_dir or Path(tempfile.mkdtemp(prefix="routet2i-demo-")))
        edge_file, cloud_file = demo.edge, demo.cloud

    def make_app(settings: Any) -> Any:
        if demo is not None:
            from routet2i.testing.demo import DEMO_NOTICE, demo_gateway

            settings = demo_gateway(settings, demo)
            logging.getLogger("routet2i").warning(DEMO_NOTICE)
        edge, cloud = WorkerSettings.load(edge_file), WorkerSettings.load(cloud_file)
        # before the router loads (torch, seconds): a model that cannot load ends `serve` at once
        check_models([edge, cloud], demo_fix=DEMO_FIX)
        return create_embedded_app(settings, load_engine(settings), {EDGE: edge, CLOUD: cloud})

    return serve_settings(args, make_app)
