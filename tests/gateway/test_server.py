"""The gateway's server runner takes uvicorn's loop choice: uvloop when installed."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from fastapi import FastAPI

from routet2i.gateway.server import serve


def test_the_gateway_runs_on_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    import uvicorn

    seen: dict[str, Any] = {}

    async def fake_serve(self: uvicorn.Server, sockets: Any = None) -> None:
        seen["loop"] = asyncio.get_running_loop()
        seen["http"] = self.config.http

    monkeypatch.setattr(uvicorn.Server, "serve", fake_serve)
    before = signal.getsignal(signal.SIGTERM)
    serve(FastAPI(), host="127.0.0.1", port=0, graceful_shutdown_s=1, log_level="warning")
    assert isinstance(seen["loop"], uvloop.Loop)
    assert seen["http"] == "auto"
    assert signal.getsignal(signal.SIGTERM) == before
