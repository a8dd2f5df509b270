"""Serve one image model over HTTP (the edge or the cloud worker).

    routet2i worker --config configs/edge-sd-turbo.yaml [--host 0.0.0.0] [--port 8001]
    routet2i worker --demo edge|cloud    # a tiny random-weight model built in code: noise images

The config names the backend (a diffusers pipeline, by hub id or local folder, or an
OpenAI-Images-compatible API), request defaults and limits, batching and the queue; every field
can be overridden from the environment (``ROUTET2I_WORKER_DIFFUSERS__DEVICE=cuda:1``). The port opens at
once: ``/healthz`` answers while the model loads, ``/readyz`` turns 200 once it is loaded and
warmed. Endpoints: POST /v1/generate, GET /healthz, /readyz, /v1/info, /metrics.

Before the port opens, a preflight checks that the model can load (a local folder with
``model_index.json``, a hub model in the local cache or a reachable hub, a hosted API's key): if
not, the command exits with status 2 in seconds, with one line naming the model, the cause and the
fixes (:mod:`routet2i.workers.preflight`). ``--demo edge|cloud`` serves a tiny random-weight SD or
SDXL pipeline built in code instead (for compose files and CI; the images are noise).

SIGTERM stops it gracefully (no new requests, running batches finish) with exit status 0; Ctrl-C
does the same with status 130. If the model fails to load, it exits with status 2 and the reason.

Logs: one JSON object per line on stderr (``logging.json_logs: false`` or ``routet2i --log-format
text`` for text), uvicorn's included; a line written while serving a request carries its ``request_id`` (the gateway's
``X-Request-ID``, forwarded by its worker client, so one id follows a request across both).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from types import FrameType
from typing import Any

HELP = "serve one image model (diffusers pipeline or hosted images API) as a worker"

#: The last fix a failed preflight offers (:mod:`routet2i.workers.preflight`).
DEMO_FIX = "run `routet2i worker --demo edge` (or `--demo cloud`: a tiny random-weight model, noise images)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="worker YAML (configs/edge-*.yaml, cloud-*.yaml)")
    parser.add_argument("--host", default=None, help="interface to bind (default: server.host of the config)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default: server.port of the config)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import uvicorn

    from routet2i.errors import ConfigError
    from routet2i.logs import configure_logging, wants_json
    from routet2i.workers.app import create_app
    from routet2i.workers.preflight import check_models
    from routet2i.workers.settings import WorkerSettings

    if args.config is None:
        raise ConfigError("give the worker's config: --config FILE (or --demo edge|cloud for a tiny demo model)")
    settings = WorkerSettings.load(args.config)
    log_level = str(getattr(args, "log_level", "INFO"))
    configure_logging(log_level, json_logs=wants_json(getattr(args, "log_format", None), settings.logging.json_logs))
    banner = getattr(args, "banner", None)  # set by `--demo` (routet2i.gateway.command_worker)
    if banner:
        logging.getLogger("routet2i").warning("%s", banner)
    # before the port opens: a model that cannot load ends the command in seconds, in one line
    check_models([settings], demo_fix=DEMO_FIX)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.server.host,
        port=settings.server.port if args.port is None else args.port,
        log_config=None,  # keep the logging set up above
        log_level=log_level.lower(),
        timeout_graceful_shutdown=settings.server.graceful_shutdown_s,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; a SIGTERM is the normal
    # way to stop a worker, so it is absorbed here and the process exits 0.
    previous = signal.signal(signal.SIGTERM, _absorb)
    try:
        asyncio.run(_serve(server, app.state.runtime))
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _absorb(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn's graceful shutdown: nothing left to do."""


async def _serve(server: Any, runtime: Any) -> None:
    """Run uvicorn; stop it and raise if the model fails to load."""
    import asyncio

    from routet2i.errors import Routet2iError

    failed: list[str] = []

    async def watch_load() -> None:
        if await runtime.wait_settled() == "failed":
            failed.append(str(runtime.error))
            server.should_exit = True

    watcher = asyncio.create_task(watch_load())
    try:
        await server.serve()
    finally:
        watcher.cancel()
    if failed:
        raise Routet2iError(f"the model failed to load: {failed[0]}")
