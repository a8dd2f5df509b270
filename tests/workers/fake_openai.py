"""A fake OpenAI-Images-compatible provider for tests, served over a real socket.

``POST /v1/images/generations`` answers deterministic PNGs: with a ``seed``, image ``i`` comes
from (prompt, size, seed + i); without one, from fresh randomness, like a real provider. Prompts
containing a trigger word misbehave on purpose: ``rate-limit`` (429, Retry-After 7), ``refuse``
(400 naming ``prompt``), ``explode`` (500), ``unavailable`` (503), ``slow`` (sleeps 3 s),
``redirect`` (307 to another host), ``jpeg`` (answers a JPEG), ``nob64`` (a URL, no base64).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

API_KEY = "test-key"


def _image(prompt: str, size: str, seed: int | None, fmt: str = "PNG") -> str:
    w, h = (int(v) for v in size.split("x"))
    if seed is None:
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
    else:
        digest = hashlib.sha256(f"{prompt}|{size}|{seed}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _error(status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def create_fake_openai() -> FastAPI:
    """The fake provider; ``app.state.calls`` records every call, ``app.state.stolen`` every
    request that followed a redirect to ``app.state.redirect_to`` (set it to another host name)."""
    app = FastAPI()
    app.state.calls = []
    app.state.stolen = []
    app.state.redirect_to = "http://127.0.0.1:9/steal"

    @app.api_route("/steal", methods=["GET", "POST"])
    async def steal(request: Request) -> Any:
        app.state.stolen.append(dict(request.headers))
        return {"data": []}

    @app.post("/v1/images/generations")
    async def generations(request: Request) -> Any:
        body = await request.json()
        app.state.calls.append({"body": body, "authorization": request.headers.get("authorization")})
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided")
        prompt = str(body.get("prompt", ""))
        if "rate-limit" in prompt:
            return _error(429, "Rate limit reached", headers={"Retry-After": "7"})
        if "refuse" in prompt:
            return _error(400, "Your request was rejected by the safety system", param="prompt")
        if "explode" in prompt:
            return _error(500, "The server had an error")
        if "unavailable" in prompt:
            return _error(503, "Overloaded")
        if "redirect" in prompt:
            return JSONResponse({}, status_code=307, headers={"Location": app.state.redirect_to})
        if "slow" in prompt:
            await asyncio.sleep(3)
        n = int(body.get("n", 1))
        size = str(body["size"])
        seed = body.get("seed")
        if "nob64" in prompt:
            return {"created": 0, "data": [{"url": "https://example.invalid/x.png"} for _ in range(n)]}
        fmt = "JPEG" if "jpeg" in prompt else "PNG"
        data = [{"b64_json": _image(prompt, size, None if seed is None else seed + i, fmt)} for i in range(n)]
        return {"created": 0, "data": data}

    return app
