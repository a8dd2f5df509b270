"""The offline chain on tiny models, with real processes: a tiny SD edge worker and a tiny SDXL
cloud worker (``routet2i worker``), ``routet2i generate-pairs`` SIGKILLed partway and resumed,
then ``score`` (tiny CLIP) → ``train`` → ``calibrate`` → ``route``, and a ``routet2i gateway``
process serving /v1/route from the fresh checkpoint."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from routet2i.cli import main
from routet2i.pipeline.manifest import read_manifest
from tests.pipeline.conftest import (
    CLOUD_MODEL,
    EDGE_MODEL,
    free_port,
    routet2i_cmd,
    stop_process,
    subprocess_env,
    wait_http_ready,
)

pytestmark = pytest.mark.slow

PROMPTS = [
    "a red colored car",
    "a black colored car",
    "a cat sitting on a windowsill",
    "two dogs playing in the snow",
    "a bowl of fruit on a wooden table",
    "a lighthouse at dawn, oil painting",
    "a city skyline at night with neon lights",
    "a portrait of an old fisherman",
    "a sign that says 'open 24 hours'",
    "a blue cube on top of a yellow sphere",
    "an astronaut riding a horse on the moon",
    "a watercolor of a mountain lake",
    "three apples and a banana",
    "a futuristic train in the desert",
    "a close-up of a hummingbird",
    "a cozy library with a fireplace",
    "a robot cooking breakfast",
    "a map of an imaginary island",
    "a bicycle leaning against a brick wall",
    "a bowl of ramen, studio photo",
]
SEEDS = 2
TOTAL = len(PROMPTS) * SEEDS * 2


@dataclass(frozen=True)
class ResumedRun:
    out: Path
    lines_at_kill: int
    kill_returncode: int
    resume_stderr: str
    resume_returncode: int


def generate_cmd(prompts: Path, out: Path, urls: dict[str, str]) -> list[str]:
    return routet2i_cmd(
        "generate-pairs",
        "--prompts", str(prompts),
        "--edge", urls["edge"],
        "--cloud", urls["cloud"],
        "--seeds", str(SEEDS),
        "--edge-concurrency", "2",
        "--cloud-concurrency", "2",
        "--out", str(out),
        "--no-progress",
    )  # fmt: skip


def manifest_lines(out: Path) -> int:
    try:
        return (out / "manifest.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def resumed_run(worker_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ResumedRun:
    """generate-pairs as a subprocess, SIGKILLed once the manifest has a few lines, then the same
    command again to completion."""
    root = tmp_path_factory.mktemp("chain")
    prompts = root / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    out = root / "pairs"
    cmd = generate_cmd(prompts, out, worker_urls)

    first_log = root / "first-run.log"
    with first_log.open("wb") as log:
        first = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while manifest_lines(out) < 4:
        if first.poll() is not None or time.monotonic() > deadline:
            first.kill()
            first.wait(timeout=30)
            raise AssertionError(f"generate-pairs ended before the kill: {first_log.read_text()[-2000:]}")
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    lines_at_kill = manifest_lines(out)

    second = subprocess.run(cmd, env=subprocess_env(), capture_output=True, timeout=240, check=False)
    return ResumedRun(out, lines_at_kill, first.returncode, second.stderr.decode(), second.returncode)


def test_a_killed_run_resumes_with_every_item_exactly_once(resumed_run: ResumedRun) -> None:
    from PIL import Image

    run = resumed_run
    assert run.kill_returncode == -signal.SIGKILL
    assert 4 <= run.lines_at_kill < TOTAL, "the kill must land partway"
    assert run.resume_returncode == 0, run.resume_stderr[-3000:]
    done = re.findall(r"(\d+) planned, (\d+) already done, (\d+) made, 0 failed", run.resume_stderr)
    assert len(done) == 2 and all(int(p) == TOTAL // 2 for p, _, _ in done)
    assert all(int(already) + int(made) == TOTAL // 2 for _, already, made in done)
    assert sum(int(already) for _, already, _ in done) >= run.lines_at_kill - 1  # at most a torn line is lost

    entries = read_manifest(run.out / "manifest.jsonl")
    keys = [(e.model, e.prompt_id, e.seed) for e in entries]
    assert len(keys) == TOTAL and len(set(keys)) == TOTAL
    assert {(m, s) for m, _, s in keys} == {(m, s) for m in (EDGE_MODEL, CLOUD_MODEL) for s in range(SEEDS)}
    for entry in entries:
        with Image.open(entry.image) as im:
            im.verify()
        with Image.open(entry.image) as im:
            assert im.format == "PNG" and im.size == (64, 64)
    on_disk = {p for p in (run.out / "images").rglob("*") if p.is_file()}
    assert on_disk == {e.image for e in entries}  # no orphan, no temporary file
    assert not list(run.out.glob(".*.tmp"))


def test_chain_to_a_checkpoint_that_routes(
    resumed_run: ResumedRun,
    worker_urls: dict[str, str],
    tiny_clip_dir: Path,
    tiny_encoder_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert resumed_run.resume_returncode == 0
    out = resumed_run.out
    ratings, router = out / "ratings.jsonl", out / "router"
    assert main(
        ["score", str(out / "manifest.jsonl"), "--out", str(ratings), "--backend", "transformers",
         "--clip-model", str(tiny_clip_dir), "--device", "cpu"]
    ) == 0  # fmt: skip
    rows = [json.loads(line) for line in ratings.read_text().splitlines()]
    assert {r["model"] for r in rows} == {EDGE_MODEL, CLOUD_MODEL} and len(rows) == TOTAL * 10

    assert main(
        ["train", "--ratings", str(ratings), "--pair", f"prompts/{EDGE_MODEL}:{CLOUD_MODEL}", "--out", str(router),
         "--encoder", f"hf:{tiny_encoder_dir}", "--epochs", "3", "--no-progress"]
    ) == 0  # fmt: skip
    assert (router / "config.json").is_file() and (router / "model.safetensors").is_file()

    assert (
        main(["calibrate", "--checkpoint", str(router), "--prompts", str(out / "prompts.jsonl"), "--budget", "0.3"])
        == 0
    )
    calibration = json.loads((router / "config.json").read_text())["calibration"]
    assert "0.3" in json.dumps(calibration)
    capsys.readouterr()

    assert main(["route", "--checkpoint", str(router), "--budget", "0.3", "a prompt"]) == 0
    decision = json.loads(capsys.readouterr().out.strip())
    assert decision["prompt"] == "a prompt" and decision["tier"] in ("edge", "cloud")
    assert 0.0 < decision["prs"] < 1.0 and len(decision["metrics"]) == 10
    assert decision["tier"] == ("cloud" if decision["prs"] < decision["threshold"] else "edge")

    # A gateway process serving decisions from the fresh checkpoint.
    import httpx

    port = free_port()
    env = subprocess_env()
    env.update(
        ROUTET2I_GATEWAY_TIERS__EDGE__URL=worker_urls["edge"], ROUTET2I_GATEWAY_TIERS__CLOUD__URL=worker_urls["cloud"]
    )
    with (tmp_path / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            routet2i_cmd("gateway", "--checkpoint", str(router), "--port", str(port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ready(url, gateway)
        response = httpx.post(f"{url}/v1/route", json={"prompts": ["a prompt", "a red colored car"]}, timeout=30)
        assert response.status_code == 200, response.text
        decisions = response.json()["decisions"]
        assert [d["prompt"] for d in decisions] == ["a prompt", "a red colored car"]
        assert all(d["tier"] in ("edge", "cloud") and len(d["metrics"]) == 10 for d in decisions)
        assert abs(decisions[0]["prs"] - decision["prs"]) < 1e-4  # the same checkpoint, the same PRŜ
        models = httpx.get(f"{url}/v1/models", timeout=10).json()
        assert str(router) in json.dumps(models)
    finally:
        stop_process(gateway)
