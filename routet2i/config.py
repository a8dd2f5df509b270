"""Typed settings: YAML files in ``configs/`` with environment overrides, validated on load.

Every settings class of the project derives from :class:`YamlSettings`. Values come, highest
priority first, from environment variables, then the YAML file, then the class defaults. Each
service reads its own prefix, so one environment can hold the overrides of several services
(``routet2i serve`` runs a gateway and two workers in one process):

====================  ==============================  ==========================================
settings class        prefix                          example
====================  ==============================  ==========================================
GatewaySettings       ``ROUTET2I_GATEWAY_``           ``ROUTET2I_GATEWAY_BUDGET__CLOUD_SHARE=0.3``
WorkerSettings        ``ROUTET2I_WORKER_``            ``ROUTET2I_WORKER_DIFFUSERS__DEVICE=cuda:1``
TrainingSettings      ``ROUTET2I_TRAIN_``             ``ROUTET2I_TRAIN_OPTIMISATION__LR=3e-4``
====================  ==============================  ==========================================

Nested fields are joined with ``__``; the value ``null`` means None. The old shared prefix
(``ROUTET2I_<FIELD>``, :data:`LEGACY_ENV_PREFIX`) is still read, below the service's own prefix,
for one release: each such variable logs a deprecation warning naming its new name.
An invalid value fails at once with a :class:`~routet2i.errors.ConfigError` that names the field,
the value, the variable it came from and the file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from routet2i.errors import ConfigError, Routet2iError

#: The folder of the YAML defaults: package data (``routet2i/configs``), so that a wheel install
#: has them too. In a checkout it is a link to the top-level ``configs/``, the files the docs,
#: the Dockerfile and docker-compose name.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Where the rated datasets live unless ``ROUTET2I_DATA_DIR`` says otherwise (never copied in).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

#: Environment variables of the process that are not settings overrides (no settings class reads
#: them; a bench's child processes keep them): the rated-data folder, the router's ONNX cache.
DATA_DIR_ENV = "ROUTET2I_DATA_DIR"
ONNX_CACHE_ENV = "ROUTET2I_ONNX_CACHE"
PROCESS_VARIABLES = (DATA_DIR_ENV, ONNX_CACHE_ENV)

#: The prefix every service shared before each got its own (read, with a warning, for one release).
LEGACY_ENV_PREFIX = "ROUTET2I_"

log = logging.getLogger(__name__)

S = TypeVar("S", bound="YamlSettings")
M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A nested settings block: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False)


def service_env_prefix(service: str) -> str:
    """The environment prefix of one service: ``ROUTET2I_GATEWAY_`` for ``"gateway"``."""
    return f"{LEGACY_ENV_PREFIX}{service.upper()}_"


class LegacyEnvSource(EnvSettingsSource):
    """The deprecated shared ``ROUTET2I_<FIELD>`` variables of the fields this class has; each
    one read logs a warning naming the service's own variable."""

    def __init__(self, settings_cls: type[BaseSettings], new_prefix: str) -> None:
        super().__init__(settings_cls, env_prefix=LEGACY_ENV_PREFIX)
        self.new_prefix = new_prefix

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        if data:
            fields = tuple(f"{LEGACY_ENV_PREFIX}{name.upper()}" for name in data)
            for name in sorted(os.environ):
                upper = name.upper()
                if any(upper == f or upper.startswith(f + "__") for f in fields):
                    new = self.new_prefix + upper[len(LEGACY_ENV_PREFIX) :]
                    log.warning("$%s is deprecated and read for one more release: name it $%s", name, new)
        return data


class YamlSettings(BaseSettings):
    """Base of every top-level settings class. Load with :meth:`load`.

    A subclass sets its own prefix with ``model_config = SettingsConfigDict(env_prefix=
    service_env_prefix("gateway"))``; with the bare :data:`LEGACY_ENV_PREFIX` nothing legacy is read.
    """

    model_config = SettingsConfigDict(
        env_prefix=LEGACY_ENV_PREFIX,
        env_nested_delimiter="__",
        env_parse_none_str="null",  # ROUTET2I_GATEWAY_BUDGET__CLOUD_SHARE=null clears an optional field
        extra="forbid",
        validate_default=True,
    )

    #: A subclass may name its default file inside :data:`CONFIG_DIR`.
    default_file: ClassVar[str | None] = None
    #: Fields (paths of nested keys) a config file may not set: secrets read from the environment only.
    env_only: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment must override it, and the
        # service's own variables the deprecated shared ones.
        prefix = env_prefix_of(settings_cls)
        if prefix == LEGACY_ENV_PREFIX:
            return env_settings, init_settings, file_secret_settings
        return env_settings, LegacyEnvSource(settings_cls, prefix), init_settings, file_secret_settings

    @classmethod
    def load(cls: type[S], path: str | Path | None = None, **overrides: Any) -> S:
        """Read ``path`` (or the class's default file, or nothing), apply the environment and
        ``overrides`` (highest priority), and validate."""
        data: dict[str, Any] = {}
        source = "defaults"
        if path is None and cls.default_file is not None and (CONFIG_DIR / cls.default_file).is_file():
            path = CONFIG_DIR / cls.default_file
        if path is not None:
            data = read_yaml(path)
            source = str(path)
            for keys in cls.env_only:
                if _nested(data, keys) is not None:
                    variable = env_prefix_of(cls) + "__".join(k.upper() for k in keys)
                    raise ConfigError(
                        f"{source}: {'.'.join(keys)} is a secret and may not be in a config file: "
                        f"set {variable} in the environment"
                    )
        data.update(overrides)
        return validate_or_explain(cls, data, source)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping document is a :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    return data


def read_json_object(path: Path, *, error: type[Routet2iError] = ConfigError, label: str = "") -> dict[str, Any]:
    """Read a JSON file whose top level is an object; an unreadable file, bad JSON or another
    top level raises ``error`` naming the file (``label``, e.g. "cue lexicon", goes before it)."""
    where = f"{label} {path}" if label else str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{where}: not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{where}: the top level must be an object")
    return data


def env_prefix_of(cls: type[BaseModel]) -> str:
    """The environment prefix a settings class reads ("" for a plain model)."""
    return str(cls.model_config.get("env_prefix", "")) if issubclass(cls, BaseSettings) else ""


def validate_or_explain(cls: type[M], data: dict[str, Any], source: str) -> M:
    """``cls.model_validate(data)``, turning a ValidationError into a ConfigError that names
    every bad field with its value and where it came from."""
    try:
        if issubclass(cls, BaseSettings):
            return cls(**data)
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain_validation_error(exc, source, env_prefix_of(cls))) from None


def explain_validation_error(exc: ValidationError, source: str, prefix: str = LEGACY_ENV_PREFIX) -> str:
    """One line a bad field: ``field 'budget.cloud_share' = 1.7: Input should be ≤ 1``, with
    the environment variable it came from when there is one (``prefix`` or the legacy one)."""
    lines = [f"invalid settings ({source}; environment prefix {prefix or LEGACY_ENV_PREFIX}):"]
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "<root>"
        value = err.get("input")
        lines.append(f"  field '{field}' = {value!r}{_env_origin(err['loc'], prefix)}: {err['msg']}")
    return "\n".join(lines)


def _env_origin(loc: tuple[int | str, ...], prefix: str) -> str:
    """`` (from $NAME)`` for the variable that set the field at ``loc`` (or a block above it)."""
    parts = [str(p).upper() for p in loc]
    for depth in range(len(parts), 0, -1):
        tail = "__".join(parts[:depth])
        if prefix and prefix + tail in os.environ:
            return f" (from ${prefix}{tail})"
        legacy = LEGACY_ENV_PREFIX + tail
        if legacy in os.environ and prefix != LEGACY_ENV_PREFIX:
            return f" (from ${legacy}, a deprecated name every service reads: use ${prefix}{tail})"
        if legacy in os.environ:
            return f" (from ${legacy})"
    return ""


def data_dir() -> Path:
    """The rated-data folder: ``$ROUTET2I_DATA_DIR`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def _nested(data: Any, keys: tuple[str, ...]) -> Any:
    """``data[k1][k2]...`` or None where a level is missing."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
