"""Running an app under uvicorn for the ``gateway`` and ``serve`` commands."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

from fastapi import FastAPI


def serve(app: FastAPI, *, host: str, port: int, graceful_shutdown_s: float, log_level: str) -> None:
    """Serve ``app`` until SIGINT / SIGTERM; requests in flight get ``graceful_shutdown_s``."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep the CLI's (JSON) logging
        log_level=log_level.lower(),
        access_log=False,  # the gateway writes its own access log, with the request id
        timeout_graceful_shutdown=max(1, round(graceful_shutdown_s)),
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it; SIGTERM is the normal way to stop a service.
    previous = signal.signal(signal.SIGTERM, _absorb)
    try:
        asyncio.run(server.serve())
    finally:
        signal.signal(signal.SIGTERM, previous)


def _absorb(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn's graceful shutdown: nothing left to do."""
