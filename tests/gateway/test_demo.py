"""``routet2i serve --demo`` as a new user runs it: a subprocess of the installed package, offline,
on free ports; it answers ``/generate`` with a PNG and the OpenAI client with an image, says it is
a demo, and stops with exit 0 on SIGTERM."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.workers.harness import free_port, wait_ready


@pytest.mark.slow
def test_serve_demo_runs_anywhere_and_stops_cleanly(tmp_path: Path) -> None:
    from openai import OpenAI

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "routet2i.cli", "serve", "--demo", "--demo-dir", str(tmp_path / "demo")]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=240)
        png = httpx.post(f"{url}/generate", json={"prompt": "a red fox"}, headers={"Accept": "image/png"}, timeout=60)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as im:
            assert im.format == "PNG" and im.size == (64, 64)
        body = httpx.post(f"{url}/generate", json={"prompt": "a red fox"}, timeout=60).json()
        assert body["routing"]["model"].startswith("demo-noise")
        with OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
            result = client.images.generate(model="auto", prompt="a blue cube", response_format="b64_json")
        with Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or ""))) as im:
            assert im.size == (64, 64)
        models = {m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]}
        assert {"demo-noise-sd", "demo-noise-sdxl"} <= models
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert code == 0, text[-3000:]
    assert "DEMO: the edge and cloud tiers are tiny random-weight pipelines" in text
    assert "Traceback" not in text
