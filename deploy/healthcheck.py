"""Container health check for every routet2i role (gateway, worker, serve).

    python deploy/healthcheck.py [URL | PATH]

``URL`` (``http://127.0.0.1:8001/readyz``) is fetched as given. ``PATH`` (default ``/healthz``)
is fetched from this container's own server, on the port that server listens on: the
``routet2i`` process's ``--port``, else ``server.port`` of its ``--config`` with the
service's environment overrides (read through the project's own settings classes), else
the first of :data:`PORT_VARIABLES` that is set, else 8000. Exit status 0 for a 2xx answer, 1 otherwise (Docker's
"unhealthy"), with one line saying why. Standard library only, apart from the settings lookup.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_PATH = "/healthz"
FALLBACK_PORT = 8000
#: The port variables of the gateway and the worker, then the deprecated shared one.
PORT_VARIABLES = ("ROUTET2I_GATEWAY_SERVER__PORT", "ROUTET2I_WORKER_SERVER__PORT", "ROUTET2I_SERVER__PORT")
#: Seconds for the whole HTTP exchange; below the HEALTHCHECK --timeout of the Dockerfile/compose.
TIMEOUT_S = 4.0


def routet2i_process(proc: Path = Path("/proc")) -> tuple[list[str], Path] | None:
    """``(arguments after "routet2i", working directory)`` of the first process running the
    ``routet2i`` command (PID 1 may be tini), or None when there is none."""
    pids = sorted(int(p.name) for p in proc.iterdir() if p.name.isdigit()) if proc.is_dir() else []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        rest = command_after_routet2i([a for a in argv if a])
        if rest is not None:
            try:
                cwd = Path(os.readlink(proc / str(pid) / "cwd"))
            except OSError:
                cwd = Path.cwd()
            return rest, cwd
    return None


def command_after_routet2i(argv: Sequence[str]) -> list[str] | None:
    """The arguments after the ``routet2i`` console script (or ``-m routet2i.cli``), or None."""
    for i, arg in enumerate(argv):
        if Path(arg).name == "routet2i" and i + 1 < len(argv):
            return list(argv[i + 1 :])
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] in ("routet2i", "routet2i.cli"):
            return list(argv[i + 2 :])
    return None


def server_port(command: Sequence[str] | None, cwd: Path | None = None, env: Mapping[str, str] = os.environ) -> int:
    """The port the routet2i server started with ``command`` (arguments after ``routet2i``)
    listens on, resolved as the server itself does; falls back as the module docstring says."""
    if command:
        try:
            return _port_from_settings(list(command), cwd)
        except (Exception, SystemExit) as exc:  # any failure (argparse exits): the fallbacks still answer
            print(
                f"healthcheck: port not found from {' '.join(command)!r} ({exc}); using the fallback", file=sys.stderr
            )
    for name in PORT_VARIABLES:
        value = env.get(name, "")
        if value.isdigit():
            return int(value)
    return FALLBACK_PORT


def _port_from_settings(command: list[str], cwd: Path | None) -> int:
    from routet2i.cli import build_parser

    args, _ = build_parser().parse_known_args(command)
    if getattr(args, "port", None) is not None:
        return int(args.port)
    config = getattr(args, "config", None)
    if config is not None and cwd is not None and not Path(config).is_absolute():
        config = cwd / config
    if args.command == "worker":
        from routet2i.workers.settings import WorkerSettings

        return WorkerSettings.load(config).server.port
    if args.command in ("gateway", "serve"):
        from routet2i.gateway.settings import GatewaySettings

        return GatewaySettings.load(config).server.port
    raise ValueError(f"'routet2i {args.command}' is not a server")


def target_url(target: str | None, port: int | None = None) -> str:
    """``target`` itself when it is a URL, else ``http://127.0.0.1:<port><target>``."""
    target = target or DEFAULT_PATH
    if target.startswith(("http://", "https://")):
        return target
    if port is None:
        found = routet2i_process()
        port = server_port(found[0] if found else None, found[1] if found else None)
    return f"http://127.0.0.1:{port}{target if target.startswith('/') else '/' + target}"


def check(url: str, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    """GET ``url``: (healthy, one line about the answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status = response.status
            body = response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(300).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: no answer ({reason})"
    body = " ".join(body.split())
    return 200 <= status < 300, f"{url}: HTTP {status} {body}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 1
    healthy, line = check(target_url(args[0] if args else None))
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
