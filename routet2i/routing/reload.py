"""Hot reload of the router checkpoint, on ``SIGHUP`` and through ``POST /v1/admin/reload``.

A reload loads the checkpoint and its encoder on a thread (the event loop keeps serving on the
old router meanwhile), runs one warm-up prediction with the new engine there, and only then
makes it live with :meth:`~routet2i.routing.dispatcher.Dispatcher.swap_predictor`: one reference
assignment on the event loop, so a micro-batch never mixes two engines, the batch running at
that moment finishes on the old router and the next one runs on the new. The budget controller
takes the new checkpoint's calibration and keeps its window and spend
(:meth:`~routet2i.routing.budget.BudgetController.recalibrate`).

A failed load changes nothing: the old router keeps serving. It is logged, reported to the
observer (``routet2i_gateway_router_reloads_total{outcome}``) and raised as a
:class:`~routet2i.routing.errors.ReloadError`, which the HTTP layer answers: 404
``checkpoint_not_found`` (no folder there), 422 ``invalid_checkpoint`` (not a usable checkpoint:
a missing or malformed file, an encoder that does not load or does not fit the predictor), 409
``reload_in_progress`` (one reload at a time), 500 ``reload_failed`` (anything else).

Without a path, the live checkpoint's folder is read again (what ``SIGHUP`` does): replace what
is in that folder (ideally by renaming a complete new folder into place), then signal. With a
path, that folder becomes the live checkpoint, and the next path-less reload reads it.
While a reload runs, two routers are in memory (on the GPU, if that is the device).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from routet2i.errors import Routet2iError
from routet2i.routing.dispatcher import Dispatcher
from routet2i.routing.errors import CheckpointNotFound, InvalidCheckpoint, ReloadError, ReloadFailed, ReloadInProgress
from routet2i.routing.ports import PredictorPort

log = logging.getLogger("routet2i.routing.reload")

#: Values of the ``outcome`` label of ``router_reloads_total``.
OUTCOMES = ("success", "not_found", "invalid_checkpoint", "in_progress", "error")

#: Loads the predictor of a checkpoint folder (None: the packaged default). Runs on a thread.
PredictorLoader = Callable[[Path | None], PredictorPort]

_WARMUP_PROMPT = "a warm-up prompt"


class RouterReloader:
    """Reloads the router of one dispatcher (see the module docstring). ``checkpoint``: the folder
    the live predictor was loaded from (None: the packaged default)."""

    def __init__(self, dispatcher: Dispatcher, loader: PredictorLoader, checkpoint: Path | None) -> None:
        self._service = dispatcher
        self._loader = loader
        self.checkpoint = checkpoint
        self._running: asyncio.Task[dict[str, Any]] | None = None  # one reload at a time
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._last: dict[str, Any] | None = None

    def status(self) -> dict[str, Any]:
        """The folder a path-less reload reads, reloads by outcome, and the last attempt."""
        return {
            "checkpoint_dir": None if self.checkpoint is None else str(self.checkpoint),
            "counts": dict(self._counts),
            "last": self._last,
        }

    async def reload(
        self, checkpoint: str | Path | None = None, *, source: str, field: str | None = None
    ) -> dict[str, Any]:
        """Load ``checkpoint`` (None: the live folder again) and make it live; returns the new
        router's description. Raises an :class:`ReloadError` (naming ``field``) and keeps the old
        router when it fails. ``source``: who asked (``admin``, ``sighup``), for the logs. The
        reload runs as its own task: a caller that goes away (a client disconnecting) does not
        cancel it halfway."""
        path = self.checkpoint if checkpoint is None else Path(checkpoint)
        t0 = time.perf_counter()
        if self._running is not None:
            err = ReloadInProgress(
                "a reload is already running; retry once it has finished", field=field, retry_after=1.0
            )
            raise self._failed(err, source, path, t0)
        task = asyncio.get_running_loop().create_task(self._reload(path, source, field, t0), name="routet2i-reload")
        self._running = task
        self._track(task)
        return await asyncio.shield(task)

    async def _reload(self, path: Path | None, source: str, field: str | None, t0: float) -> dict[str, Any]:
        try:
            engine = await asyncio.to_thread(self._load, path, field)
        except ReloadError as exc:
            raise self._failed(exc, source, path, t0) from None
        except Exception as exc:
            log.exception("router reload from %s failed", path)
            err = ReloadFailed(f"loading the router from {path} failed: {type(exc).__name__}: {exc}", field=field)
            raise self._failed(err, source, path, t0) from None
        previous = self._service.describe_router()
        await self._service.swap_predictor(engine)
        self.checkpoint = path
        live = self._service.describe_router()
        seconds = round(time.perf_counter() - t0, 3)
        self._record("success", source, path, seconds)
        log.warning(
            "router reloaded",
            extra={
                "source": source,
                "checkpoint": live.get("checkpoint"),
                "data_id": live.get("data_id"),
                "previous_checkpoint": previous.get("checkpoint"),
                "previous_data_id": previous.get("data_id"),
                "seconds": seconds,
            },
        )
        return {**live, "previous": {k: previous.get(k) for k in ("checkpoint", "data_id", "loaded_at")}}

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if self._running is t:
                self._running = None
            if not t.cancelled():
                t.exception()  # retrieved: a failure is logged and counted already

        task.add_done_callback(done)

    def _load(self, path: Path | None, field: str | None) -> PredictorPort:
        """On a worker thread: load, then one prediction, so a router that cannot run never goes live."""
        if path is not None and not _exists(path):
            raise CheckpointNotFound(f"no checkpoint folder at {path}", field=field)
        if path is not None and not path.is_dir():
            raise InvalidCheckpoint(f"{path} is not a folder (a checkpoint is a folder)", field=field)
        try:
            engine = self._loader(path)
            predictions = engine.predict([_WARMUP_PROMPT])
        except Routet2iError as exc:  # CheckpointError, an encoder that does not load (ConfigError), ...
            raise InvalidCheckpoint(
                f"{path or 'the packaged default'} is not a usable router checkpoint: {exc}", field=field
            ) from None
        if len(predictions) != 1:
            raise InvalidCheckpoint(
                f"{path}: the router returned {len(predictions)} predictions for 1 prompt", field=field
            )
        return engine

    def _failed(self, exc: ReloadError, source: str, path: Path | None, t0: float) -> ReloadError:
        outcome = exc.outcome
        self._record(outcome, source, path, round(time.perf_counter() - t0, 3), error=exc)
        log.error(
            "router reload failed; the previous router keeps serving: %s",
            exc.message,
            extra={"source": source, "checkpoint": None if path is None else str(path), "outcome": outcome},
        )
        return exc

    def _record(
        self, outcome: str, source: str, path: Path | None, seconds: float, error: ReloadError | None = None
    ) -> None:
        self._counts[outcome] += 1
        self._service.observer.reload_finished(outcome)
        self._last = {
            "outcome": outcome,
            "source": source,
            "checkpoint": None if path is None else str(path),
            "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "seconds": seconds,
            "error": None if error is None else {"type": error.error_type, "message": error.message},
        }

    # ----------------------------------------------------------------------------- SIGHUP
    def on_signal(self) -> None:
        """SIGHUP: reload the live folder in the background (the outcome is logged)."""
        self._track(asyncio.get_running_loop().create_task(self._reload_quietly("sighup"), name="routet2i-sighup"))

    async def _reload_quietly(self, source: str) -> None:
        with contextlib.suppress(ReloadError):  # already logged and counted
            await self.reload(source=source)

    @contextlib.contextmanager
    def sighup(self) -> Iterator[bool]:
        """While inside, SIGHUP reloads (yields whether the handler could be installed: only in the
        main thread of a platform that has SIGHUP, i.e. not under a test client's thread)."""
        sig = getattr(signal, "SIGHUP", None)
        loop = asyncio.get_running_loop()
        installed = False
        if sig is not None and threading.current_thread() is threading.main_thread():
            try:
                loop.add_signal_handler(sig, self.on_signal)
                installed = True
            except (NotImplementedError, RuntimeError, ValueError):
                log.warning("SIGHUP cannot be handled here; reload the router with POST /v1/admin/reload")
        try:
            yield installed
        finally:
            if installed and sig is not None:
                loop.remove_signal_handler(sig)

    async def aclose(self) -> None:
        """Cancel a reload still running (at shutdown); its loading thread finishes on its own."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a path the OS cannot even look up (a name over NAME_MAX) does not."""
    try:
        return path.exists()
    except OSError:
        return False
