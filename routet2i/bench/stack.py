"""The system under test: a gateway process in front of two worker processes, on 127.0.0.1.

    edge worker  (routet2i worker)      ◀── gateway (routet2i gateway) ──▶ fault worker ──▶ cloud worker
                                                                          (routet2i.bench.fault_worker)

The cloud tier is reached through a :mod:`~routet2i.bench.fault_worker` (``pass`` mode forwards
untouched), so a run can make the cloud slow or make it answer garbage; the edge worker is reached
directly, so a run can kill it and start it again. Every config is written by the bench into its
work folder; the workers' counters (``/metrics``) and the gateway's memory (RSS) and access log
are read back for the reports.

Without model arguments the benches use the tiny models of :mod:`routet2i.testing`, built in
code (a random-weight Stable Diffusion at 64 px and an untrained, calibrated router on a tiny BERT):
the figures then measure the serving machinery, not a model.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from routet2i.bench.processes import BenchError, ManagedProcess, child_env, free_port, routet2i_argv

#: Key the bench's clients present to the gateway, and the operator key (loopback only).
CLIENT_KEY = "bench-client-key"
ADMIN_KEY = "bench-admin-key"


@dataclass(frozen=True)
class TinyModels:
    """Tiny models built in code: an SD pipeline folder and a router checkpoint folder."""

    sd: Path
    router: Path


def build_tiny_sd(root: Path) -> Path:
    """Build (seeded, random weights) the tiny SD pipeline folder under ``root``."""
    from routet2i.testing.pipelines import save_tiny_pipeline

    return Path(save_tiny_pipeline("sd", root / "tiny-sd"))


def build_tiny_router(root: Path) -> Path:
    """Build the tiny calibrated router checkpoint (untrained, on a tiny BERT) under ``root``."""
    from routet2i.testing.tiny_router import save_tiny_router

    return Path(save_tiny_router(root / "tiny-router", root / "tiny-router-encoder"))


def build_tiny_models(root: Path) -> TinyModels:
    """Build (seeded, random weights) the tiny SD pipeline and tiny router under ``root``."""
    return TinyModels(sd=build_tiny_sd(root), router=build_tiny_router(root))


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in, nested dicts merged key by key (copies)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def gateway_config(
    edge_url: str, cloud_url: str, checkpoint: Path | None, port: int, **overrides: Any
) -> dict[str, Any]:
    """The bench's gateway config: both tiers, a cloud share of 0.5, client and admin keys, fast
    health checks, JSON access logs; ``overrides`` are merged in block by block."""
    base: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "graceful_shutdown_s": 2},
        "router": {"checkpoint": str(checkpoint) if checkpoint else None, "device": "cpu"},
        "tiers": {
            "edge": {"url": edge_url, "model": "bench-edge", "timeout_s": 30},
            "cloud": {"url": cloud_url, "model": "bench-cloud", "timeout_s": 30, "price": {"per_image": 0.01}},
        },
        "budget": {"cloud_share": 0.5, "window": 200, "warmup": 100000},
        "limits": {  # within the tiny workers' limits (testing/demo.py), so the schema promises what they take
            "min_size": 32,
            "max_size": 128,
            "max_steps": 4,
            "max_guidance_scale": 20.0,
            "default_width": 64,
            "default_height": 64,
            "request_timeout_s": 60,
            "max_in_flight": 1024,
        },
        "health": {
            "interval_s": 0.5,
            "timeout_s": 2.0,
            "failure_threshold": 2,
            "cooldown_s": 1.0,
            "max_cooldown_s": 5.0,
        },
        "security": {"api_keys": [CLIENT_KEY], "admin_key": ADMIN_KEY},
        "logging": {"json_logs": True, "log_prompts": False},
    }
    return deep_merge(base, overrides)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def parse_worker_metrics(text: str) -> dict[str, float]:
    """Counters of one worker's ``/metrics``: ``requests`` generated (sum of requests per backend
    call), ``images``, ``calls`` (backend calls), ``dropped``, ``failed_batches``, ``errors``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = dict.fromkeys(("requests", "images", "calls", "dropped", "failed_batches", "errors"), 0.0)
    names = {
        "routet2i_worker_batch_requests_sum": "requests",
        "routet2i_worker_batch_requests_count": "calls",
        "routet2i_worker_images_total": "images",
        "routet2i_worker_dropped_total": "dropped",
        "routet2i_worker_failed_batches_total": "failed_batches",
        "routet2i_worker_errors_total": "errors",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = names.get(sample.name)
            if key is not None:
                out[key] += float(sample.value)
    return out


def access_log_ids(log: Path, since_offset: int = 0) -> Counter[str]:
    """How many access-log lines the gateway wrote for each request id (JSON logs), reading the
    log from byte ``since_offset``."""
    ids: Counter[str] = Counter()
    with log.open("rb") as f:
        f.seek(since_offset)
        for raw in f:
            if not raw.startswith(b"{"):
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("logger") == "routet2i.gateway.access" and entry.get("request_id"):
                ids[str(entry["request_id"])] += 1
    return ids


class Stack:
    """Edge worker, cloud worker behind a fault worker, and the gateway, as processes.

    ``edge_worker`` / ``cloud_worker``: worker configs (the YAML's contents; the port is chosen
    here); ``checkpoint``: the router checkpoint (None: the packaged default); ``gateway``:
    overrides of :func:`gateway_config`. Use as a context manager; everything stops on exit.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        edge_worker: dict[str, Any],
        cloud_worker: dict[str, Any],
        checkpoint: Path | None,
        gateway: dict[str, Any] | None = None,
        threads: int = 1,
        ready_timeout_s: float = 300.0,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.checkpoint = checkpoint
        self.ready_timeout_s = ready_timeout_s
        self.env = child_env(threads)
        self.ports = {name: free_port() for name in ("edge", "cloud", "fault", "gateway")}
        self.edge_url = f"http://127.0.0.1:{self.ports['edge']}"
        self.cloud_url = f"http://127.0.0.1:{self.ports['cloud']}"
        self.fault_url = f"http://127.0.0.1:{self.ports['fault']}"
        self.gateway_url = f"http://127.0.0.1:{self.ports['gateway']}"
        self.gateway_settings = gateway_config(
            self.edge_url, self.fault_url, checkpoint, self.ports["gateway"], **(gateway or {})
        )
        edge_cfg = deep_merge(edge_worker, {"server": {"host": "127.0.0.1", "port": self.ports["edge"]}})
        cloud_cfg = deep_merge(cloud_worker, {"server": {"host": "127.0.0.1", "port": self.ports["cloud"]}})
        self.edge = self._process(
            "edge", routet2i_argv("worker", "--config", str(write_yaml(workdir / "edge.yaml", edge_cfg)))
        )
        self.cloud = self._process(
            "cloud", routet2i_argv("worker", "--config", str(write_yaml(workdir / "cloud.yaml", cloud_cfg)))
        )
        self.fault = self._process(
            "fault",
            [
                sys.executable,
                "-m",
                "routet2i.bench.fault_worker",
                "--port",
                str(self.ports["fault"]),
                "--upstream",
                self.cloud_url,
            ],
        )
        gw_yaml = write_yaml(workdir / "gateway.yaml", self.gateway_settings)
        self.gateway = self._process("gateway", routet2i_argv("gateway", "--config", str(gw_yaml)))

    def _process(self, name: str, argv: list[str]) -> ManagedProcess:
        return ManagedProcess(name, argv, self.workdir / f"{name}.log", env=self.env)

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.gateway, self.fault, self.edge, self.cloud]

    # ----------------------------------------------------------------------------- life cycle
    def start(self) -> Stack:
        try:
            for proc in (self.edge, self.cloud, self.fault, self.gateway):
                proc.start()
            self.edge.wait_ready(self.edge_url, self.ready_timeout_s)
            self.cloud.wait_ready(self.cloud_url, self.ready_timeout_s)
            self.fault.wait_ready(self.fault_url, self.ready_timeout_s)
            self.gateway.wait_ready(self.gateway_url, self.ready_timeout_s)
            for tier in ("edge", "cloud"):
                self.wait_tier(tier, "closed")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            proc.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------------------- control
    @property
    def client_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {CLIENT_KEY}"}

    def tier_state(self, tier: str) -> str:
        import httpx

        return str(httpx.get(f"{self.gateway_url}/readyz", timeout=5.0).json()["tiers"][tier]["state"])

    def wait_tier(self, tier: str, state: str, timeout: float = 60.0) -> None:
        """Wait until the gateway's circuit of ``tier`` is in ``state`` (``closed``: in rotation)."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.tier_state(tier)
            if seen == state:
                return
            time.sleep(0.05)
        raise BenchError(f"the gateway's {tier} tier is {seen}, not {state}, after {timeout:.0f} s")

    def set_fault(self, mode: str, delay_s: float = 0.0) -> dict[str, Any]:
        """Put the cloud's fault worker in ``mode`` (see :mod:`routet2i.bench.fault_worker`)."""
        import httpx

        r = httpx.put(f"{self.fault_url}/_fault", json={"mode": mode, "delay_s": delay_s}, timeout=5.0)
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def set_budget(self, **changes: Any) -> None:
        import httpx

        r = httpx.put(f"{self.gateway_url}/v1/budget", json=changes, headers={"X-Admin-Key": ADMIN_KEY}, timeout=5.0)
        r.raise_for_status()

    def worker_counters(self) -> dict[str, dict[str, float]]:
        """Each worker's counters (read straight from the workers, not through the fault worker);
        a worker that is down reads as empty."""
        import httpx

        out: dict[str, dict[str, float]] = {}
        for tier, url in (("edge", self.edge_url), ("cloud", self.cloud_url)):
            try:
                out[tier] = parse_worker_metrics(httpx.get(f"{url}/metrics", timeout=5.0).text)
            except httpx.HTTPError:
                out[tier] = {}
        return out

    def quiesce(self, quiet_s: float = 0.5, timeout: float = 30.0) -> dict[str, dict[str, float]]:
        """Wait until the workers' counters stop moving (nothing queued or generating: leftovers
        of an earlier run are done) and return them."""
        deadline = time.monotonic() + timeout
        last = self.worker_counters()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = self.worker_counters()
            if now == last:
                return now
            last = now
        return last

    def gateway_log_offset(self) -> int:
        return self.gateway.log.stat().st_size if self.gateway.log.exists() else 0

    def restart(self, name: str) -> None:
        """Start a stopped (killed) process again, without waiting for it to be ready."""
        proc = {"edge": self.edge, "cloud": self.cloud, "fault": self.fault, "gateway": self.gateway}[name]
        proc.start()
