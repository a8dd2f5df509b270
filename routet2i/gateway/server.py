"""Running an app under uvicorn for the ``gateway`` and ``serve`` commands.

The event loop is uvicorn's ``loop="auto"`` choice (uvloop when installed, as with
``uvicorn[standard]``, else asyncio) and the HTTP parser ``http="auto"`` (httptools when
installed): :func:`serve` runs the server through :meth:`uvicorn.Server.run`, whose loop factory
applies that choice (a bare ``asyncio.run`` would always take asyncio's default loop).
"""

from __future__ import annotations

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
        loop="auto",
        http="auto",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it; SIGTERM is the normal way to stop a service.
    previous = signal.signal(signal.SIGTERM, _absorb)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _absorb(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn's graceful shutdown: nothing left to do."""
