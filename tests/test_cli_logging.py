"""``routet2i``'s logging: library chatter (a line per HTTP request) only at ``--log-level debug``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from routet2i.cli import main
from routet2i.logs import QUIET_LIBRARIES


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, [logging.getLogger(n).level for n in QUIET_LIBRARIES])
    yield
    root.handlers[:], level, levels = saved
    root.setLevel(level)
    for name, lvl in zip(QUIET_LIBRARIES, levels, strict=True):
        logging.getLogger(name).setLevel(lvl)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(("level", "expected"), [("INFO", logging.WARNING), ("DEBUG", logging.NOTSET)])
def test_http_request_lines_are_quiet_unless_debugging(tmp_path: Path, level: str, expected: int) -> None:
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)
    assert main(["--log-level", level, "learn", "status", "--versions", str(tmp_path)]) == 0
    assert [logging.getLogger(n).level for n in QUIET_LIBRARIES] == [expected] * len(QUIET_LIBRARIES)


@pytest.mark.parametrize(("flag", "json_lines"), [([], False), (["--log-format", "json"], True)])
def test_one_shot_commands_log_text_unless_told_json(tmp_path: Path, flag: list[str], json_lines: bool) -> None:
    from routet2i.logs import JsonFormatter, StderrHandler

    assert main([*flag, "learn", "status", "--versions", str(tmp_path)]) == 0
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)]
    assert isinstance(handler.formatter, JsonFormatter) is json_lines
