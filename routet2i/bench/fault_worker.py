"""A stand-in for a worker that injects faults: the benches' *fault worker*.

It speaks the worker API (and, for proxies that speak the OpenAI Images API, answers
``POST /v1/images/generations`` at once with the fixed PNG). ``POST /v1/generate`` is forwarded to a real worker (``--upstream``),
or, without one, answered at once with a fixed 8x8 PNG (the *fast worker* that isolates the
gateway's own overhead). Health checks (``/readyz``, ``/healthz``) always answer truthfully, so a
faulty worker looks alive, as real faulty workers do. The fault mode is changed at run time:

    PUT /_fault {"mode": "pass" | "slow" | "garbage" | "error", "delay_s": 3.0}
    GET /_fault  → the mode and how many generate calls each outcome had

- ``pass``: forward (or answer at once);
- ``slow``: wait ``delay_s`` seconds, then forward (a worker slower than the gateway's timeout);
- ``garbage``: answer 200 with a body that is not a valid worker answer, cycling through: not
  JSON, JSON of the wrong shape, no images, an image that is not base64, one image too many;
- ``error``: answer 500 with a non-JSON body.

Run: ``python -m routet2i.bench.fault_worker --port 8101 [--upstream http://127.0.0.1:8002]``
(127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

MODES = ("pass", "slow", "garbage", "error")


def _png_b64() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 120, 200)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def instant_answer(body: dict[str, Any], png_b64: str) -> dict[str, Any]:
    """A valid ``GenerateResponse`` for ``body`` with the fixed PNG, made at once."""
    n = int(body.get("n", 1))
    seed = int(body.get("seed", 0))
    return {
        "images": [{"b64_png": png_b64, "seed": seed + i} for i in range(n)],
        "model": "fault-worker",
        "parameters": {
            "width": body.get("width", 512),
            "height": body.get("height", 512),
            "steps": body.get("steps", 1),
            "guidance_scale": body.get("guidance_scale", 0.0),
        },
        "timings": {"queue_ms": 0.0, "generate_ms": 0.0, "total_ms": 0.0, "batch_images": n, "batch_requests": 1},
    }


def garbage_answer(index: int, body: dict[str, Any], png_b64: str) -> tuple[bytes, str]:
    """The ``index``-th garbage answer (body, content type), cycling through five kinds."""
    kind = index % 5
    if kind == 0:
        return b"<html>definitely not JSON</html>", "text/html"
    if kind == 1:
        return json.dumps({"images": "nope", "model": 7}).encode(), "application/json"
    valid = instant_answer(body, png_b64)
    if kind == 2:
        valid["images"] = []
    elif kind == 3:
        valid["images"][0]["b64_png"] = "!!! not base64 !!!"
    else:
        valid["images"].append(dict(valid["images"][0]))
    return json.dumps(valid).encode(), "application/json"


def create_app(upstream: str | None) -> Any:
    """The fault worker's ASGI app (Starlette)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    png_b64 = _png_b64()
    state: dict[str, Any] = {"mode": "pass", "delay_s": 0.0, "counts": Counter(), "garbage": 0}
    client = httpx.AsyncClient(base_url=upstream, timeout=None) if upstream else None

    async def forward(request: Request, body: bytes) -> Response:
        if client is None:
            return JSONResponse(instant_answer(json.loads(body), png_b64))
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("content-type", "x-request-timeout", "authorization")
        }
        try:
            r = await client.request(request.method, request.url.path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return JSONResponse({"error": {"type": "unavailable", "message": f"upstream: {exc!r}"}}, status_code=503)
        return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))

    async def generate(request: Request) -> Response:
        body = await request.body()
        mode = state["mode"]
        state["counts"][mode] += 1
        if mode == "slow":
            await asyncio.sleep(state["delay_s"])
        elif mode == "garbage":
            state["garbage"] += 1
            content, media = garbage_answer(state["garbage"] - 1, json.loads(body), png_b64)
            return Response(content, status_code=200, media_type=media)
        elif mode == "error":
            return Response(b"Internal Server Error", status_code=500, media_type="text/plain")
        return await forward(request, body)

    async def probe(request: Request) -> Response:
        if client is None:
            return JSONResponse({"status": "ready", "ready": True})
        return await forward(request, b"")

    async def fault(request: Request) -> Response:
        if request.method == "PUT":
            update = await request.json()
            mode = update.get("mode", state["mode"])
            if mode not in MODES:
                return JSONResponse({"error": {"type": "invalid_request", "message": f"mode {mode!r}"}}, 422)
            state["mode"] = mode
            state["delay_s"] = float(update.get("delay_s", state["delay_s"]))
        return JSONResponse({"mode": state["mode"], "delay_s": state["delay_s"], "counts": dict(state["counts"])})

    async def metrics(request: Request) -> Response:
        return await forward(request, b"") if client is not None else Response(b"", media_type="text/plain")

    async def images(request: Request) -> Response:
        """An instant OpenAI-Images-API answer (``b64_json``), for proxies that speak that API."""
        body = json.loads(await request.body() or b"{}")
        n = int(body.get("n", 1))
        return JSONResponse({"created": 0, "data": [{"b64_json": png_b64} for _ in range(n)]})

    routes = [
        Route("/v1/generate", generate, methods=["POST"]),
        Route("/v1/images/generations", images, methods=["POST"]),
        Route("/readyz", probe, methods=["GET"]),
        Route("/healthz", probe, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/_fault", fault, methods=["GET", "PUT"]),
    ]
    return Starlette(routes=routes)


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default=None, help="base URL of the real worker (default: answer at once)")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.upstream), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
