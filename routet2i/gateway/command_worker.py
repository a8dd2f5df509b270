"""``routet2i worker``: the worker command of :mod:`routet2i.workers.command` plus ``--demo``.

``--demo edge|cloud`` serves the tiny random-weight pipeline that :mod:`routet2i.testing.demo`
builds for ``routet2i serve --demo``. The workers package may not import ``testing`` (it sits
above it, docs/ARCHITECTURE.md), so the command that offers ``--demo`` lives here, above both;
everything else, the help text included, is the worker command's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from routet2i.workers import command as worker_command

__doc__ = worker_command.__doc__  # `routet2i worker --help` shows the worker command's own text

HELP = worker_command.HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    worker_command.add_arguments(parser)
    parser.add_argument(
        "--demo",
        choices=("edge", "cloud"),
        default=None,
        help="serve a tiny random-weight SD (edge) or SDXL (cloud) pipeline built in code instead of --config: "
        "runs anywhere, offline; images are noise (for compose files and CI)",
    )
    parser.add_argument(
        "--demo-dir", type=Path, default=None, help="where --demo builds its model (default: a temporary folder)"
    )


def run(args: argparse.Namespace) -> int:
    if args.demo is not None:
        import tempfile

        from routet2i.errors import ConfigError
        from routet2i.testing.demo import DEMO_WORKER_NOTICE, build_demo_worker

        if args.config is not None:
            raise ConfigError("give --config or --demo, not both")
        root = args.demo_dir or Path(tempfile.mkdtemp(prefix=f"routet2i-demo-{args.demo}-"))
        args.config = build_demo_worker(root, args.demo)
        args.banner = DEMO_WORKER_NOTICE  # logged by the worker command once its logging is set up
    return worker_command.run(args)
