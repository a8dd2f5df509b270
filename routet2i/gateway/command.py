"""Run the routing gateway: the HTTP service clients call.

    routet2i gateway --config configs/gateway.yaml [--host 0.0.0.0] [--port 8000]
                     [--checkpoint runs/router]

Loads the router checkpoint once (``router.checkpoint``, or the packaged default), checks the
edge and cloud workers named in ``tiers`` periodically, and serves:

  POST /generate                 native API (JSON, or the PNG with Accept: image/png)
  POST /v1/images/generations    OpenAI Images API (the official openai client works unchanged)
  POST /v1/route                 the routing decision only, for one prompt or a batch
  GET  /v1/budget, PUT /v1/budget (operator key), GET /v1/models
  GET  /v1/router (the live checkpoint), POST /v1/admin/reload (operator key: hot reload)
  GET  /healthz, /readyz, /metrics

Every field of the config can be overridden from the environment, e.g.
``ROUTET2I_GATEWAY_BUDGET__CLOUD_SHARE=0.2`` or ``ROUTET2I_GATEWAY_SECURITY__API_KEYS='["k1"]'``. Logs are JSON
lines with the request id. SIGTERM stops it gracefully; SIGHUP reloads the router checkpoint
from its folder without a restart (the old router serves until the new one is loaded).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELP = "run the routing gateway (router + budget + edge/cloud workers behind one HTTP API)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="gateway YAML (default: configs/gateway.yaml)")
    parser.add_argument("--host", default=None, help="interface to bind (default: server.host)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default: server.port)")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="router checkpoint folder (overrides router.checkpoint)"
    )


def load_settings(args: argparse.Namespace) -> Any:
    """The settings of ``--config`` with the command-line overrides applied."""
    from routet2i.gateway.settings import GatewaySettings

    settings = GatewaySettings.load(args.config)
    if args.checkpoint is not None:
        settings.router.checkpoint = args.checkpoint
    if args.host is not None:
        settings.server.host = args.host
    if args.port is not None:
        settings.server.port = args.port
    return settings


def run(args: argparse.Namespace) -> int:
    from routet2i.gateway.assembly import build_app

    return serve_settings(args, build_app)


def serve_settings(args: argparse.Namespace, make_app: Callable[[Any], Any]) -> int:
    """Load the settings of ``args``, configure logging, build the app with ``make_app(settings)``
    and serve it until shutdown (shared by ``gateway`` and ``serve``)."""
    from routet2i.gateway.server import serve
    from routet2i.logs import configure_logging, wants_json

    settings = load_settings(args)
    log_level = str(getattr(args, "log_level", "INFO"))
    configure_logging(log_level, json_logs=wants_json(getattr(args, "log_format", None), settings.logging.json_logs))
    serve(
        make_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        graceful_shutdown_s=settings.server.graceful_shutdown_s,
        log_level=log_level,
    )
    return 0
