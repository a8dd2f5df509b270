"""The learner's router history: versioned checkpoint folders, never overwritten, and which is live.

Layout of the versions folder::

    v0001/            a checkpoint (config.json + model.safetensors), written whole, then renamed in
    v0002/            (a crash leaves at most a ``.v0002.tmp`` folder, which is ignored and replaced)
    LIVE              the live version's name (rewritten atomically)
    history.jsonl     one line per event: a version added, made live, or rolled back to, with figures

A new version is the base checkpoint's weights with the learner's correction and a calibration in
its ``config.json``, whose ``training.learning`` block records the lineage (parent checkpoint,
shadow data id, pair count, validation figures). The gateway is pointed at a version's folder by
its reload (``POST /v1/admin/reload``, or a shared folder and SIGHUP).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from routet2i.errors import ConfigError
from routet2i.pipeline.store import append_jsonl, atomic_write_bytes
from routet2i.predictor.checkpoint import CONFIG_FILE, read_meta, write_meta
from routet2i.predictor.correction import Correction

LIVE_FILE = "LIVE"
HISTORY_FILE = "history.jsonl"
_VERSION = re.compile(r"v(\d{4,})")


class RouterVersions:
    """The versions folder ``root`` (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        """Every complete version, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if _VERSION.fullmatch(p.name) and (p / CONFIG_FILE).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def path(self, version: str) -> Path:
        if version not in self.versions():
            raise ConfigError(
                f"{self.root}: no router version {version!r} (have {', '.join(self.versions()) or 'none'})"
            )
        return self.root / version

    def live(self) -> str | None:
        """The live version (None while the base router is live)."""
        f = self.root / LIVE_FILE
        name = f.read_text(encoding="utf-8").strip() if f.is_file() else ""
        return name or None

    def history(self) -> list[dict[str, Any]]:
        f = self.root / HISTORY_FILE
        if not f.is_file():
            return []
        return [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]

    def add(
        self,
        base: Path,
        correction: Correction,
        *,
        calibration: dict[str, Any] | None,
        lineage: dict[str, Any],
    ) -> str:
        """Write a new version: ``base``'s weights, ``correction``, ``calibration`` and the
        ``lineage`` under ``training.learning``. Returns its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        existing = self.versions()
        version = f"v{(int(existing[-1][1:]) if existing else 0) + 1:04d}"
        tmp = self.root / f".{version}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(base, tmp)
        meta = read_meta(tmp)
        meta.correction = correction.to_dict()
        meta.calibration = calibration
        meta.training = {**meta.training, "learning": {"version": version, "parent": str(base), **lineage}}
        write_meta(tmp, meta)
        os.replace(tmp, self.root / version)
        self._log({"event": "added", "version": version, **lineage})
        return version

    def set_live(self, version: str, *, event: str = "promoted", **figures: Any) -> None:
        """Make ``version`` live (``LIVE`` rewritten atomically) and record why."""
        self.path(version)  # exists
        atomic_write_bytes(self.root / LIVE_FILE, (version + "\n").encode("utf-8"))
        self._log({"event": event, "version": version, **figures})

    def rollback(self, version: str | None = None) -> str:
        """Make ``version`` live again, or, without one, the newest version older than the live
        one that was ever promoted."""
        current = self.live()
        if version is None:
            if current is None:
                raise ConfigError(f"{self.root}: no live version to roll back from")
            promoted = {e["version"] for e in self.history() if e["event"] == "promoted"}
            older = [v for v in self.versions() if v in promoted and int(v[1:]) < int(current[1:])]
            if not older:
                raise ConfigError(f"{self.root}: no version older than {current} was ever live")
            version = older[-1]
        self.set_live(version, event="rolled_back", previous=current)
        return version

    def _log(self, event: dict[str, Any]) -> None:
        append_jsonl(self.root / HISTORY_FILE, [{"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}])
