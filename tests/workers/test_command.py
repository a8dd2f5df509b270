"""`routet2i worker` as a real process: it serves over a socket and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from routet2i.cli import main
from tests.workers.harness import free_port, tiny_settings, wait_ready


@pytest.mark.slow
def test_worker_process_serves_and_exits_0_on_sigterm(tiny_pipeline: Callable[[str], Path], tmp_path: Path) -> None:
    settings = tiny_settings(tiny_pipeline("sd"), warmup=True)
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "routet2i.cli", "worker", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, timeout=90)
        response = httpx.post(f"{url}/v1/generate", json={"prompt": "a lighthouse", "seed": 1, "n": 2}, timeout=60)
        assert response.status_code == 200 and [im["seed"] for im in response.json()["images"]] == [1, 2]
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rc = proc.wait(timeout=15)
        assert rc == 0, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_missing_config_is_an_error_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_model_that_fails_to_load_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken-model"  # passes the preflight (it has a model_index.json), fails to load
    broken.mkdir()
    (broken / "model_index.json").write_text("not json")
    settings = tiny_settings(broken, warmup=False)
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    assert main(["worker", "--config", str(config), "--port", str(free_port())]) == 2
    assert "failed to load" in capsys.readouterr().err
