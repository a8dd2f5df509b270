"""Child processes of a benchmark: start, wait until ready, measure memory, kill, restart, stop.

Every process binds 127.0.0.1 only, writes its output to a log file, and is stopped by the
bench (SIGTERM, then SIGKILL after a grace period) — only the processes it started.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from routet2i.config import PROCESS_VARIABLES
from routet2i.errors import Routet2iError


class BenchError(Routet2iError):
    """A benchmark could not run (a process failed to start, a port never answered)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(threads: int = 1) -> dict[str, str]:
    """The environment of every child: offline, ``threads`` OpenMP threads (several torch
    processes spinning on a few shared cores run many times slower otherwise), and none of the
    caller's ``ROUTET2I_*`` settings overrides (the bench writes the whole config), but the
    process variables (:data:`routet2i.config.PROCESS_VARIABLES`: data dir, ONNX cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTET2I_") or k in PROCESS_VARIABLES}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS=str(threads),
        PYTHONUNBUFFERED="1",
    )
    return env


def routet2i_argv(*args: str, log_level: str = "INFO") -> list[str]:
    """``python -m routet2i.cli --log-level LEVEL ARGS...`` with this interpreter."""
    return [sys.executable, "-m", "routet2i.cli", "--log-level", log_level, *args]


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (``VmRSS`` of ``/proc/PID/status``), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class ManagedProcess:
    """One child process (``argv``), its stdout and stderr appended to ``log``."""

    def __init__(self, name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env if env is not None else child_env()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        if self.alive:
            raise BenchError(f"{self.name} is already running")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.name} was never started")
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid) if self.alive else 0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, url: str, timeout: float = 180.0, path: str = "/readyz", **kwargs: Any) -> None:
        """Poll ``GET url+path`` until 200; fail at once if the process exits."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                code = None if self.proc is None else self.proc.returncode
                raise BenchError(f"{self.name} exited ({code}) before {url} was ready:\n{self.log_tail()}")
            try:
                if httpx.get(f"{url}{path}", timeout=2.0, **kwargs).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name}: {url}{path} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL (no graceful shutdown), and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``grace_s``."""
        self.terminate()
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPUs, CPU model, memory, load average."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem_total = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_total_gib": round(mem_total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
