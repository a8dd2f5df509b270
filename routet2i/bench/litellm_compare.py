"""The gateway against the LiteLLM proxy on the OpenAI Images API, in front of the same instant
images server (``routet2i bench overhead --litellm PATH``).

LiteLLM lives in its own venv (``python3 -m venv V && V/bin/pip install 'litellm[proxy]'``; it
pins versions of FastAPI and friends that this project's venv must not get). ``PATH`` is that
venv or its ``litellm`` executable. The proxy starts as a process on 127.0.0.1 with one model,
``fake-images``, an ``openai/`` model whose ``api_base`` is the fast worker's own
``/v1/images/generations`` (it answers at once with a fixed PNG); LiteLLM does no ML routing.

Measured, each with the same instant backend: a direct images call (the floor), LiteLLM, the
gateway with a forced tier (``model: edge``: no router) and the gateway deciding (``model: auto``,
a new prompt each time so the router runs). At concurrency 1 the variants rotate request by
request; at concurrency 32 the gateway and LiteLLM alternate (ABAB), each burst with the CPU time
its server process used (``/proc/PID/stat``), per request. Every figure is the median over
``repeats`` rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

from routet2i.bench.interleave import Request, rotated_latencies
from routet2i.bench.stats import percentile

#: The model name the LiteLLM proxy serves, and its master key (a local bench only).
LITELLM_MODEL = "fake-images"
LITELLM_KEY = "sk-routet2i-bench-0123456789abcdef"

SEQUENTIAL = ("direct", "litellm", "gateway_forced", "gateway_auto")
CONCURRENT = ("litellm", "gateway_auto")


def litellm_executable(path: Path) -> Path:
    """The ``litellm`` command of a venv folder, or ``path`` itself when it is the command."""
    candidate = path / "bin" / "litellm" if path.is_dir() else path
    if not candidate.is_file():
        from routet2i.bench.processes import BenchError

        raise BenchError(f"no litellm command at {candidate}: pass the venv with `pip install 'litellm[proxy]'`")
    return candidate


def litellm_config(images_base: str) -> dict[str, Any]:
    """The proxy's config: one ``openai/`` images model at ``images_base`` (``http://…/v1``)."""
    return {
        "model_list": [
            {
                "model_name": LITELLM_MODEL,
                "litellm_params": {"model": f"openai/{LITELLM_MODEL}", "api_base": images_base, "api_key": "sk-fake"},
            }
        ]
    }


def litellm_env() -> dict[str, str]:
    """The proxy's environment: offline cost map, the bench's master key, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTET2I_")}
    env.update(LITELLM_MASTER_KEY=LITELLM_KEY, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False")
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Targets:
    """Where each variant sends its request: URL, body for a prompt, headers."""

    def __init__(self, fast_worker: str, litellm: str, gateway: str, gateway_headers: dict[str, str]) -> None:
        self.fast_worker, self.litellm, self.gateway = fast_worker, litellm, gateway
        self.gateway_headers = gateway_headers

    def request(self, variant: str, prompt: str) -> Request:
        body: dict[str, Any] = {"prompt": prompt, "n": 1, "size": "512x512"}
        if variant == "direct":
            return f"{self.fast_worker}/v1/images/generations", {**body, "model": LITELLM_MODEL}, {}
        if variant == "litellm":
            auth = {"Authorization": f"Bearer {LITELLM_KEY}"}
            return f"{self.litellm}/v1/images/generations", {**body, "model": LITELLM_MODEL}, auth
        model = "edge" if variant == "gateway_forced" else "auto"
        return f"{self.gateway}/v1/images/generations", {**body, "model": model}, self.gateway_headers


async def sequential(targets: Targets, prompts: list[str], n: int, round_: int = 0) -> dict[str, dict[str, float]]:
    """Concurrency 1, variants rotated request by request: p50 / p95 / p99 ms of each. Every
    prompt is new to the gateway (``round_`` tells the rounds apart), so its router runs."""
    import httpx

    def request(variant: str, i: int) -> Request:
        return targets.request(variant, f"{prompts[i % len(prompts)]}, round {round_} take {i}")

    async with httpx.AsyncClient(timeout=30) as client:
        times = await rotated_latencies(client, SEQUENTIAL, n, request)
    return {v: {q: percentile(t, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} for v, t in times.items()}


async def burst(
    targets: Targets, variant: str, prompts: list[str], n: int, concurrency: int, pid: int, round_: int = 0
) -> dict[str, float]:
    """``n`` requests at ``concurrency``: requests/s, p50 / p99 ms, CPU ms per request of ``pid``
    (prompts new to the gateway in every round)."""
    import httpx

    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            async with sem:
                url, body, headers = targets.request(
                    variant, f"{prompts[i % len(prompts)]}, burst {variant} {round_}-{i}"
                )
                t0 = time.perf_counter()
                r = await client.post(url, json=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()

        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    return {
        "requests_per_s": n / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "cpu_ms_per_request": 1000 * cpu / n,
    }


def compare(
    targets: Targets, pids: dict[str, int], prompts: list[str], *, n: int, repeats: int, concurrency: int = 32
) -> dict[str, Any]:
    """The whole comparison (see the module docstring); medians over ``repeats`` rounds."""
    rounds_seq = [asyncio.run(sequential(targets, prompts, n, k)) for k in range(repeats)]
    seq = {v: {q: statistics.median(r[v][q] for r in rounds_seq) for q in ("p50", "p95", "p99")} for v in SEQUENTIAL}
    rounds_conc: dict[str, list[dict[str, float]]] = {v: [] for v in CONCURRENT}
    for k in range(repeats):
        for variant in CONCURRENT:  # alternate: A B A B …
            pid = pids["litellm"] if variant == "litellm" else pids["gateway"]
            rounds_conc[variant].append(asyncio.run(burst(targets, variant, prompts, n, concurrency, pid, k)))
    conc = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in rounds_conc.items()}
    return {
        "requests": n,
        "repeats": repeats,
        "concurrency_1": seq,
        "added_ms_p50": {v: seq[v]["p50"] - seq["direct"]["p50"] for v in SEQUENTIAL if v != "direct"},
        f"concurrency_{concurrency}": conc,
    }


def litellm_version(executable: Path) -> str:
    """The installed LiteLLM's version, from its venv's metadata."""
    import subprocess

    python = executable.parent / "python"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    try:
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def format_comparison(c: dict[str, Any]) -> str:
    labels = {
        "direct": "direct images call (floor)",
        "litellm": f"LiteLLM proxy {c.get('litellm_version', '')}".rstrip(),
        "gateway_forced": "routet2i, forced tier",
        "gateway_auto": "routet2i, router deciding",
    }
    lines = [f"OpenAI Images API, concurrency 1 (medians of {c['repeats']} rounds of {c['requests']}):"]
    for v, f in c["concurrency_1"].items():
        added = "" if v == "direct" else f"   adds {c['added_ms_p50'][v]:6.2f} ms"
        lines.append(f"  {labels[v]:<30} p50 {f['p50']:7.2f}  p95 {f['p95']:7.2f}  p99 {f['p99']:7.2f} ms{added}")
    for key, block in c.items():
        if key.startswith("concurrency_") and key != "concurrency_1":
            lines.append(f"{key.replace('_', ' ')}:")
            for v, f in block.items():
                lines.append(
                    f"  {labels[v]:<30} {f['requests_per_s']:7.1f} req/s  p50 {f['p50']:7.1f}  p99 {f['p99']:7.1f} ms  "
                    f"CPU {f['cpu_ms_per_request']:.2f} ms/request"
                )
    if c.get("litellm_rss_mib"):
        lines.append(f"LiteLLM resident memory: {c['litellm_rss_mib']:.0f} MiB")
    return "\n".join(lines)
