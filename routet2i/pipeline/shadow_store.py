"""The shadow store as a folder: the gateway's shadow pairs in the layout of a generate-pairs run.

Layout of ``DIR``::

    manifest.jsonl   two lines per pair, one per image (the format of routet2i.pipeline.manifest)
    images/<tier>/<pair_id>.png
    .manifest.lock   held (flock) while a line is appended, so gateway replicas may share DIR

so ``routet2i score DIR/manifest.jsonl`` reads it as it reads a ``routet2i generate-pairs`` run.
Both images of a pair get the pair's seed as their ``seed`` (the ratings ``sample``, which pairs
them); besides the manifest keys each line has ``tier``, ``pair_id``, ``role`` (``served`` or
``shadow``), ``parameters`` (what the worker generated with), ``request`` (what the client
asked), ``prs``, ``metrics``, ``threshold``, ``reason``, ``checkpoint`` and ``router_data_id``
(the live router), ``cost`` (the shadow image's quoted price; 0 for the served one), ``created``
and ``worker_seed`` (the seed the worker reported).

Writes are atomic, in the order that keeps every reader whole (the rules of
:mod:`routet2i.pipeline.store`): each image goes to a hidden temporary file, is fsync-ed and
renamed into place; then both manifest lines are appended in one ``write``, flushed and fsync-ed.
A line therefore always names images that exist, and a pair is in the manifest whole or not at
all. A torn last line (the process died while appending) is cut off when the store next opens, and
temporary image files older than :data:`STALE_TMP_S` are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.pipeline.plan import safe_name
from routet2i.pipeline.store import IMAGES, MANIFEST, TMP_SUFFIX, atomic_write_bytes, cut_torn_tail
from routet2i.prompt_ids import default_prompt_id
from routet2i.routing.shadow import ShadowImage, ShadowPair

#: The lock file appends take (beside the manifest).
MANIFEST_LOCK = ".manifest.lock"
#: Age (seconds) after which a temporary image file is a killed writer's leftover.
STALE_TMP_S = 600.0
#: What every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DirectoryShadowStore:
    """A :class:`~routet2i.routing.shadow.ShadowSink` over a folder (see the module docstring).
    Nothing touches the disk until the first pair; ``dataset`` names the rows' dataset."""

    def __init__(self, root: str | Path, *, dataset: str = "shadow") -> None:
        self.root = Path(root)
        self.dataset = dataset
        self.manifest_path = self.root / MANIFEST
        self._lock = threading.Lock()
        self._opened = False

    def write(self, pair: ShadowPair) -> None:
        """Store ``pair`` (both images, then their two manifest lines); a
        :class:`~routet2i.errors.DataError` when an image is not a PNG (nothing is written)."""
        for image in pair.images:
            if not image.png.startswith(PNG_SIGNATURE):
                raise DataError(f"shadow pair {pair.pair_id}: the {image.tier} image is not a PNG")
        with self._lock:
            if not self._opened:
                self._open()
            rows = []
            for image in pair.images:
                relative = PurePosixPath(IMAGES, safe_name(image.tier), f"{pair.pair_id}.png")
                path = self.root / Path(*relative.parts)
                atomic_write_bytes(path, image.png)
                rows.append(self._row(pair, image, path))
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            with self._append_lock(), self.manifest_path.open("a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())

    # ----------------------------------------------------------------------------- internals
    def _row(self, pair: ShadowPair, image: ShadowImage, path: Path) -> dict[str, Any]:
        entry = ManifestEntry(
            image=path,
            prompt=pair.prompt,
            model=image.model,
            dataset=self.dataset,
            prompt_id=default_prompt_id(pair.prompt),
            seed=pair.seed,
            extra={
                "tier": image.tier,
                "pair_id": pair.pair_id,
                "role": "served" if image.served else "shadow",
                "parameters": dict(image.parameters),
                "request": dict(pair.request),
                "prs": pair.prs,
                "metrics": dict(pair.metrics),
                "threshold": pair.threshold,
                "reason": pair.reason,
                "checkpoint": pair.checkpoint,
                "router_data_id": pair.router.get("data_id"),
                "cost": 0.0 if image.served else pair.cost,
                "created": datetime.fromtimestamp(pair.created, timezone.utc).isoformat(timespec="milliseconds"),
                "worker_seed": image.seed,
                **pair.extra,
            },
        )
        return entry.to_dict(relative_to=self.root.absolute())

    def _open(self) -> None:
        """Create the folder, cut a torn last line, remove temporary files a killed writer left."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._append_lock():
            cut_torn_tail(self.manifest_path)
            images = self.root / IMAGES
            if images.is_dir():  # old enough that no live writer (another replica) still owns it
                stale = time.time() - STALE_TMP_S
                for tmp in images.rglob(f".*{TMP_SUFFIX}"):
                    with contextlib.suppress(OSError):
                        if tmp.stat().st_mtime < stale:
                            tmp.unlink()
        self._opened = True

    @contextlib.contextmanager
    def _append_lock(self) -> Iterator[None]:
        """The cross-process lock of the manifest (flock; a no-op where there is none)."""
        handle: IO[bytes] = (self.root / MANIFEST_LOCK).open("ab")
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            handle.close()
