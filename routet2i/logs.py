"""Logging of every ``routet2i`` command: the services' structured logs (one JSON object per line,
with the request id of the request being served, set by
:class:`routet2i.request_id.RequestIdMiddleware`) or plain text for people, one handler for all.

Quiet by default: the libraries of :data:`QUIET_LIBRARIES` speak only at ``--log-level debug``,
and the model libraries' own stderr handlers are removed (:func:`adopt_library_loggers`), so their
warnings arrive once, in the chosen format, instead of twice."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from typing import Any, Literal

#: ``--log-format``: ``json`` (the services' default) or ``text`` (the other commands' default).
LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

#: Libraries whose INFO lines (one per HTTP request, per file lock, …) are shown only at debug level.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "filelock", "huggingface_hub", "transformers", "diffusers")

#: Libraries that install a stderr handler of their own on import (and may not propagate).
SELF_LOGGING_LIBRARIES = ("transformers", "diffusers", "huggingface_hub")

#: The id of the request the current task serves (set by the request-id middleware; read by the
#: formatter, and by the worker client, which forwards it to the worker as ``X-Request-ID``).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("routet2i_request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"?, ...extra fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid is not None:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg, unused-ignore]
    """A stream handler on whatever ``sys.stderr`` is when a record is written (a test runner or
    a caller may swap it after logging is configured)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the handler always writes to the current ``sys.stderr``."""


def wants_json(log_format: str | None, configured: bool) -> bool:
    """JSON lines or text: ``--log-format`` when given, else the service's ``logging.json_logs``."""
    return configured if log_format is None else log_format == "json"


def adopt_library_loggers() -> None:
    """Make the already imported model libraries write through the root handler only, and
    without their instant "Loading weights" bars.

    transformers, diffusers and huggingface_hub each add a plain stderr handler to their root
    logger on import (and transformers propagates too when ``$CI`` is set), so a warning came out
    twice, once as text and once as JSON. transformers and diffusers draw a bar per model load
    (noise in a service's log); the hub's download bars, which do help on a first download, stay
    on a TTY only.
    Called by :func:`configure_logging` and again by the code that imports those libraries (the
    encoder, pipeline and scorer loaders)."""
    for name in SELF_LOGGING_LIBRARIES:
        if name in sys.modules:
            logger = logging.getLogger(name)
            logger.handlers[:] = []
            logger.propagate = True
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        hub_bars = not are_progress_bars_disabled() and sys.stderr.isatty()
        # only when transformers is already loaded (never imported from here: the workers and the
        # routing core must not depend on it); its switch also turns the hub's bars off
        for module in ("transformers.utils.logging", "diffusers.utils.logging"):
            library_logging: Any = sys.modules.get(module)
            if library_logging is not None:
                library_logging.disable_progress_bar()
        if hub_bars:
            enable_progress_bars()
        else:
            disable_progress_bars()


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    """Route the root logger (and uvicorn's and the model libraries') to stderr, as JSON lines or
    plain text; quiet the chatty libraries unless ``level`` is DEBUG."""
    handler = StderrHandler()
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    # replace our own handler of an earlier call; keep any other (a test runner's capture)
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, StderrHandler)] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # the request-id middleware writes the access log (structured, with the request id)
    logging.getLogger("uvicorn.access").disabled = True
    if not sys.stderr.isatty():
        # read by huggingface_hub (and through it transformers) when first imported: no bars in logs
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    debug = root.level <= logging.DEBUG
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.NOTSET if debug else logging.WARNING)
    adopt_library_loggers()
