"""Fixtures of the pipeline tests: tiny SD (edge) and SDXL (cloud) pipelines with worker configs,
and the two workers as real ``routet2i worker`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Model names the tiny workers report (and the manifest and ratings use).
EDGE_MODEL, CLOUD_MODEL = "tiny-sd", "tiny-sdxl"

#: Worker startup (torch + diffusers import, model load) on a busy 2-core box.
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class TierConfigs:
    edge: Path
    cloud: Path


def write_worker_config(path: Path, model_dir: Path, name: str, tier: str) -> Path:
    """A worker YAML for a tiny pipeline folder: CPU, fp32, 64 px, 2 steps, no warm-up."""
    path.write_text(
        f"""backend: diffusers
model: {model_dir}
name: {name}
tier: {tier}
warmup: false
diffusers: {{device: cpu, dtype: float32, variant: null}}
defaults: {{width: 64, height: 64, steps: 2, guidance_scale: 0.0}}
limits: {{min_size: 32, max_width: 256, max_height: 256, max_pixels: 65536, max_steps: 50}}
batching: {{enabled: true, max_batch_images: 4, max_wait_ms: 5}}
queue: {{max_pending: 64, default_timeout_s: 120}}
server: {{host: 127.0.0.1, graceful_shutdown_s: 2}}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def tier_configs(tmp_path_factory: pytest.TempPathFactory) -> TierConfigs:
    from routet2i.testing.pipelines import save_tiny_pipeline

    root = tmp_path_factory.mktemp("pipeline-tiers")
    sd = save_tiny_pipeline("sd", root / "sd")
    sdxl = save_tiny_pipeline("sdxl", root / "sdxl")
    return TierConfigs(
        edge=write_worker_config(root / "edge.yaml", sd, EDGE_MODEL, "edge"),
        cloud=write_worker_config(root / "cloud.yaml", sdxl, CLOUD_MODEL, "cloud"),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env() -> dict[str, str]:
    """The environment of every process a test starts: offline, this checkout importable."""
    env = dict(os.environ)
    # One OpenMP thread: several torch processes spinning on 2 busy cores run 5-10x slower otherwise.
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def routet2i_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "routet2i.cli", "--log-level", "WARNING", *args]


def wait_http_ready(url: str, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``url/readyz`` until 200; fail at once if the process died."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before {url} was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def stop_process(*processes: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM to each, then SIGKILL to any that has not exited after ``grace_s`` (only these
    processes)."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def worker_urls(tier_configs: TierConfigs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both tiny workers as real processes (``routet2i worker --config``); tier → base URL."""
    logs = tmp_path_factory.mktemp("worker-logs")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    try:
        for tier, config in (("edge", tier_configs.edge), ("cloud", tier_configs.cloud)):
            port = free_port()
            with (logs / f"{tier}.log").open("wb") as log_file:
                processes[tier] = subprocess.Popen(
                    routet2i_cmd("worker", "--config", str(config), "--port", str(port)),
                    env=subprocess_env(),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            urls[tier] = f"http://127.0.0.1:{port}"
        for tier, url in urls.items():
            wait_http_ready(url, processes[tier])
        yield urls
    finally:
        stop_process(*processes.values())


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory, clip_tokenizer_dir: Path) -> Path:
    """A tiny CLIP (``routet2i score --backend transformers --clip-model DIR``)."""
    from routet2i.testing.clip import register_tiny_open_clip, save_tiny_hf_clip, save_tiny_open_clip

    root = tmp_path_factory.mktemp("pipeline-clip")
    register_tiny_open_clip(root / "configs")
    weights = save_tiny_open_clip(root / "open_clip", seed=0)
    return save_tiny_hf_clip(root / "transformers", weights, clip_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT prompt encoder for the router (``--encoder hf:DIR``)."""
    from routet2i.testing.text_encoders import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("pipeline-encoder") / "bert")
