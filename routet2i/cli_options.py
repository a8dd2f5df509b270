"""Command-line options that several ``routet2i`` commands share, each defined once here.

Each ``add_*`` function adds one option to a subcommand's parser, with the same flag, type,
metavar and wording everywhere; the command passes what differs (its default, and what the option
applies to). The value lands where argparse puts it (``args.device``, ``args.threads``,
``args.batch_size``, ``args.weights``) and is checked by the code that uses it, as before. This
module imports nothing but :mod:`argparse` and :mod:`sys`, so ``routet2i --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys


def add_device(
    parser: argparse.ArgumentParser,
    default: str | None = "cpu",
    *,
    use: str = "",
    auto: bool = False,
    default_text: str | None = None,
) -> argparse.Action:
    """``--device``: the torch device to run on (``cpu``, ``cuda``, ``cuda:1``, …).

    ``use``: what runs there (``"for encoders and training"``); ``auto``: the command also takes
    ``auto`` (CUDA if available); ``default_text``: how to describe a ``None`` default.
    """
    what = f"torch device {use}" if use else "torch device"
    spellings = "auto (CUDA if available), cpu, cuda, cuda:1, …" if auto else "cpu, cuda, cuda:1, …"
    shown = default_text if default_text is not None else default
    return parser.add_argument(
        "--device", default=default, metavar="DEVICE", help=f"{what}: {spellings} (default {shown})"
    )


def add_threads(parser: argparse.ArgumentParser, default: int | None = None) -> argparse.Action:
    """``--threads N``: torch's CPU (intra-op) threads; ``None`` leaves torch's own choice."""
    shown = "torch's choice" if default is None else str(default)
    return parser.add_argument(
        "--threads", type=int, default=default, metavar="N", help=f"torch CPU threads (default: {shown})"
    )


def add_batch_size(
    parser: argparse.ArgumentParser,
    default: int | None,
    *,
    unit: str = "prompts per forward pass",
    default_text: str | None = None,
) -> argparse.Action:
    """``--batch-size N``: how many items one step handles (``unit``: ``"images per forward pass"``,
    ``"mini-batch size"``, …); ``default_text``: how to describe a ``None`` default."""
    shown = default_text if default_text is not None else str(default)
    return parser.add_argument("--batch-size", type=int, default=default, metavar="N", help=f"{unit} (default {shown})")


def add_weights(
    parser: argparse.ArgumentParser,
    *,
    default_text: str,
    of: str | None = "PRŜ",
    example: str = "alignment=1",
) -> argparse.Action:
    """``--weights NAME=W,…``: metric weights (parsed by
    :func:`routet2i.superiority.parse_metric_weights`; empty: the command's default,
    ``default_text``). ``of``: what they weigh (None: not said)."""
    what = f"metric weights of {of}" if of else "metric weights"
    return parser.add_argument(
        "--weights", default="", metavar="NAME=W,…", help=f"{what}, e.g. {example} (default: {default_text})"
    )


def add_gateway_config(parser: argparse.ArgumentParser, *, use: str) -> argparse.Action:
    """``--config FILE``: the gateway settings whose ``budget`` (and router) the command
    takes as its defaults, so that it and the gateway agree (default: the packaged
    ``configs/gateway.yaml`` with ``ROUTET2I_GATEWAY_`` overrides)."""
    return parser.add_argument(
        "--config",
        type=str,
        metavar="FILE",
        help=f"gateway settings whose budget {use} (default: configs/gateway.yaml + ROUTET2I_GATEWAY_ overrides)",
    )


def add_progress(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> argparse.Action:
    """``--progress`` / ``--no-progress``: progress bars of a long job (read with :func:`show_progress`)."""
    return parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: only when stderr is a terminal, never in a log file)",
    )


def show_progress(progress: bool | None) -> bool:
    """The ``--progress`` choice, else whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress
