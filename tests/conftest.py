"""Shared fixtures. Tests run offline on the CPU: the hub is never contacted."""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the router's ONNX exports (the gateway's default backend) go to this session's temp folder, not ~/.cache
os.environ.setdefault("ROUTET2I_ONNX_CACHE", tempfile.mkdtemp(prefix="routet2i-onnx-"))

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routet2i.config import data_dir
from routet2i.logs import QUIET_LIBRARIES, SELF_LOGGING_LIBRARIES


@pytest.fixture(scope="session")
def clip_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CLIP BPE tokenizer (ids equal OpenAI CLIP's), saved with ``save_pretrained``."""
    from routet2i.testing.clip_tokenizer import save_clip_tokenizer

    return save_clip_tokenizer(tmp_path_factory.mktemp("clip-tokenizer"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real rated data (``../shared/data`` or ``$ROUTET2I_DATA_DIR``); skips where missing."""
    d = data_dir()
    if not (d / "README.md").is_file():
        pytest.skip(f"rated data not found at {d} (set ROUTET2I_DATA_DIR); this checkout lacks ../shared/data")
    return d


@pytest.fixture(scope="session")
def tiny_router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny calibrated router checkpoint (untrained predictor on a tiny BERT), built once."""
    from routet2i.testing.tiny_router import save_tiny_router

    root = tmp_path_factory.mktemp("tiny-router")
    return save_tiny_router(root / "checkpoint", root / "encoder")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """Give the next test the logging this one had: ``configure_logging`` (run by every
    in-process ``routet2i`` command, and by the log tests) rewires the root, uvicorn's and the
    libraries' loggers. Autouse: any test may run a command."""
    names = {"", "uvicorn", "uvicorn.error", "uvicorn.access", *QUIET_LIBRARIES, *SELF_LOGGING_LIBRARIES}
    loggers = [logging.getLogger(name) for name in sorted(names)]
    saved = [(lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    yield
    for logger, (handlers, level, propagate, disabled) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing matplotlib fails, as on an install without the ``dev`` extra."""
    import builtins

    real_import = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A real ``redis-server`` on a free loopback port for the session (persistence off). Tests
    keep apart by key prefix; a test that stops the server starts its own."""
    from routet2i.testing.redis_server import RedisServer

    with RedisServer() as server:
        yield server
