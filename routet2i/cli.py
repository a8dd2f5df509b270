"""The ``routet2i`` command.

Each subcommand lives in the package it belongs to, in a module that exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import nothing heavy at module
level, so ``routet2i --help`` and ``routet2i X --help`` are instant; the work's own imports happen
inside ``run``. An expected failure (:class:`~routet2i.errors.Routet2iError`) prints its message
and exits with status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from routet2i import __version__
from routet2i.errors import Routet2iError
from routet2i.logs import LOG_FORMATS, configure_logging, wants_json

#: subcommand → module implementing it (see the module docstring for the protocol).
COMMANDS: dict[str, str] = {
    "import-ratings": "routet2i.ratings.command",
    "score": "routet2i.quality.command",
    "generate-pairs": "routet2i.pipeline.command",
    "evaluate": "routet2i.evaluation.command",
    "train": "routet2i.predictor.command_train",
    "calibrate": "routet2i.gateway.command_calibrate",
    "route": "routet2i.gateway.command_route",
    "worker": "routet2i.gateway.command_worker",  # workers.command + --demo (testing sits above workers)
    "gateway": "routet2i.gateway.command",
    "serve": "routet2i.gateway.command_serve",
    "ray": "routet2i.ray_serve.command",  # the gateway and its tiers on Ray Serve (the `ray` extra)
    "learn": "routet2i.learning.command_learn",
    "replay": "routet2i.learning.command_replay",
    "bench": "routet2i.bench.command",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routet2i",
        description="Route text-to-image requests between a light edge model and a large cloud model.",
    )
    parser.add_argument("--version", action="version", version=f"routet2i {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", help="logging level (default INFO; debug also shows library logs and tracebacks)"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="json or text (default: the service's logging.json_logs, JSON as shipped; text for other commands)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # services set it up again with their settings (logging.json_logs) once those are read
    configure_logging(args.log_level, json_logs=wants_json(args.log_format, False))
    try:
        return int(args._module.run(args) or 0)
    except Routet2iError as exc:
        print(f"routet2i {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"routet2i {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
