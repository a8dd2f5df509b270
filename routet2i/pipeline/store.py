"""The output folder of a generate-pairs run, kept consistent whenever the process dies.

Layout of ``DIR``::

    manifest.jsonl   one line per finished image (the format of routet2i.pipeline.manifest)
    errors.jsonl     one line per failed attempt (tier, prompt, seed, attempt, error, final)
    run.json         what the run was made with (models, parameters, prompts): checked on resume
    prompts.jsonl    the prompts of the latest run (for routet2i route --input / calibrate --prompts)
    images/<tier>/<dataset>/<prompt_id>-<seed>.png
    .lock            held (flock) while a run writes here

The rules that make a killed run safe to continue (even after ``SIGKILL``):

1. an image is written to a hidden temporary file in its folder, ``fsync``-ed, then renamed over
   its final name (``os.replace``, atomic) and the folder ``fsync``-ed: a final name always
   holds a whole image;
2. its manifest line is appended (one ``write``, flushed and ``fsync``-ed) only after that, so a
   line always names an image that exists;
3. on open, the done-set is rebuilt from the manifest: a torn last line (the process died in the
   middle of the write) is cut off, lines whose image went missing are dropped (and the item made
   again), repeated keys are kept once, and leftover temporary files are deleted. An image file
   without a manifest line is simply made again and replaced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

from routet2i.errors import ConfigError, DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.pipeline.plan import ItemKey

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
RUN_INFO = "run.json"
PROMPTS = "prompts.jsonl"
IMAGES = "images"
LOCK = ".lock"
TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of
    ``data``: a hidden temporary file beside it, fsync, ``os.replace``, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def cut_torn_tail(path: Path) -> None:
    """Drop a torn last line of the JSON-lines file ``path`` (a writer died mid-append), so the
    next append starts on a line of its own."""
    if path.is_file():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            os.truncate(path, data.rfind(b"\n") + 1)


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the JSON-lines file ``path`` in one write, durable (flushed and fsync-ed)
    before this returns; a torn last line is cut first (:func:`cut_torn_tail`)."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cut_torn_tail(path)
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())


def manifest_key(row: dict[str, Any], where: str) -> ItemKey:
    """The item key a manifest line records (``tier``, ``dataset``, ``prompt_id``, ``seed``)."""
    try:
        tier, dataset, prompt_id, seed = row["tier"], row["dataset"], row["prompt_id"], row["seed"]
    except KeyError as exc:
        raise DataError(f"{where}: no {exc.args[0]!r}: this manifest was not written by generate-pairs") from None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"{where}: 'seed' must be an integer, got {seed!r}")
    return (str(tier), str(dataset), str(prompt_id), seed)


class RunStore:
    """The output folder of one run. Use as a context manager: it takes the folder's lock,
    rebuilds the done-set (:attr:`done`) and keeps the manifest open for appending."""

    def __init__(self, out: str | Path) -> None:
        self.root = Path(out)
        self.manifest_path = self.root / MANIFEST
        self.errors_path = self.root / ERRORS
        self.run_info_path = self.root / RUN_INFO
        #: Keys of the items whose image and manifest line are both in place.
        self.done: set[ItemKey] = set()
        #: What :meth:`open` repaired: torn lines cut, lines dropped, temporary files removed.
        self.repairs: dict[str, int] = {"torn_lines": 0, "missing_images": 0, "repeated_lines": 0, "tmp_files": 0}
        self._lock: IO[bytes] | None = None
        self._manifest: IO[str] | None = None
        self._errors: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> RunStore:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> set[ItemKey]:
        """Lock the folder, clean it up after a crash, and return the done-set."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self.repairs["tmp_files"] = self._remove_tmp_files()
            self.done = self._rebuild_done_set()
            self._manifest = self.manifest_path.open("a", encoding="utf-8")
            self._errors = self.errors_path.open("a", encoding="utf-8")
        except BaseException:
            self.close()  # a refused folder (or a failed open) must not keep the lock
            raise
        return self.done

    def close(self) -> None:
        for handle in (self._manifest, self._errors):
            if handle is not None:
                handle.close()
        self._manifest = self._errors = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        handle = (self.root / LOCK).open("ab")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            self._lock = handle
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigError(f"another generate-pairs run is writing to {self.root} (it holds {LOCK})") from None
        self._lock = handle

    # -- recovery ----------------------------------------------------------------------------

    def _remove_tmp_files(self) -> int:
        removed = 0
        candidates = list(self.root.glob(f".*{TMP_SUFFIX}"))
        images = self.root / IMAGES
        if images.is_dir():
            candidates += [p for p in images.rglob(f".*{TMP_SUFFIX}") if p.is_file()]
        for p in candidates:
            if p.is_file():
                p.unlink()
                removed += 1
        if removed:
            log.info("removed %d temporary files left by an interrupted run", removed)
        return removed

    def _rebuild_done_set(self) -> set[ItemKey]:
        if not self.manifest_path.is_file():
            return set()
        raw = self.manifest_path.read_bytes()
        lines = raw.split(b"\n")
        # ``lines[-1]`` is what follows the last newline: empty for a whole file, else torn.
        complete, tail = lines[:-1], lines[-1]
        kept: list[bytes] = []
        done: set[ItemKey] = set()
        changed = bool(tail.strip())
        if changed:
            self.repairs["torn_lines"] += 1
            log.warning("%s: cut off a torn last line (the run was killed while writing it)", self.manifest_path)
        for lineno, line in enumerate(complete, 1):
            if not line.strip():
                changed = True
                continue
            where = f"{self.manifest_path}:{lineno}"
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"{where}: not JSON ({exc}); the manifest was edited or damaged") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object")
            key = manifest_key(row, where)
            image = Path(str(row.get("image", "")))
            image = image if image.is_absolute() else self.root / image
            if key in done:
                self.repairs["repeated_lines"] += 1
                changed = True
                continue
            if not image.is_file() or image.stat().st_size == 0:
                self.repairs["missing_images"] += 1
                log.warning("%s: image %s is missing; it will be made again", where, image)
                changed = True
                continue
            done.add(key)
            kept.append(line)
        if changed:
            atomic_write_bytes(self.manifest_path, b"".join(line + b"\n" for line in kept))
        return done

    # -- writing -----------------------------------------------------------------------------

    def image_file(self, relative: PurePosixPath) -> Path:
        return self.root / Path(*relative.parts)

    def write_image(self, relative: PurePosixPath, png: bytes) -> Path:
        """Put ``png`` at ``relative`` atomically (see the module docstring); returns the path."""
        path = self.image_file(relative)
        atomic_write_bytes(path, png)
        return path

    def append(self, key: ItemKey, entry: ManifestEntry) -> None:
        """Record a finished item: one manifest line (image path relative to the folder), durable
        before this returns. Call only once the image is in place."""
        if self._manifest is None:
            raise RuntimeError("the run store is not open")
        row = entry.to_dict(relative_to=self.root.absolute())
        row["tier"] = key[0]
        line = json.dumps(row, ensure_ascii=False) + "\n"
        self._manifest.write(line)
        self._manifest.flush()
        os.fsync(self._manifest.fileno())
        self.done.add(key)

    def record_error(self, key: ItemKey, *, attempt: int, error: BaseException, final: bool, **extra: Any) -> None:
        """Append one failed attempt to errors.jsonl."""
        if self._errors is None:
            raise RuntimeError("the run store is not open")
        tier, dataset, prompt_id, seed = key
        row: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tier": tier,
            "dataset": dataset,
            "prompt_id": prompt_id,
            "seed": seed,
            "attempt": attempt,
            "final": final,
            "error": type(error).__name__,
            "message": str(error),
        }
        status = getattr(error, "status", None)
        if isinstance(status, int):
            row["status"] = status
        row.update(extra)
        self._errors.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._errors.flush()

    # -- run description ---------------------------------------------------------------------

    def read_run_info(self) -> dict[str, Any] | None:
        if not self.run_info_path.is_file():
            return None
        try:
            data = json.loads(self.run_info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.run_info_path}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DataError(f"{self.run_info_path}: expected a JSON object")
        return data

    def write_run_info(self, info: dict[str, Any]) -> None:
        text = json.dumps(info, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        atomic_write_bytes(self.run_info_path, text.encode("utf-8"))
