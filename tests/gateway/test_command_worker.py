"""``routet2i worker --demo edge`` as compose or CI runs it: the installed command serves a tiny
random-weight pipeline on a free port, answers ``/readyz`` with 200 and stops with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.workers.harness import free_port, wait_ready


@pytest.mark.slow
def test_worker_demo_edge_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("ROUTET2I_")}
    env["HF_HUB_OFFLINE"] = "1"
    command = [str(Path(sys.executable).with_name("routet2i")), "worker", "--demo", "edge"]
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [*command, "--demo-dir", str(tmp_path / "demo"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=180)
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert httpx.get(f"{url}/v1/info", timeout=10).json()["model"] == "demo-noise-sd"
        image = httpx.post(f"{url}/v1/generate", json={"prompt": "a red fox", "seed": 3}, timeout=60)
        assert image.status_code == 200 and image.json()["images"][0]["seed"] == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "worker.log").read_text()
    assert "DEMO: this worker serves a tiny random-weight pipeline" in output
    assert (tmp_path / "demo" / "edge.yaml").is_file() and "Traceback" not in output
