"""Typed settings: YAML files in ``configs/`` with environment overrides, validated on load.

Every settings class of the project derives from :class:`YamlSettings`. Values come, highest
priority first, from environment variables (``ROUTET2I_<FIELD>``, nested fields joined with
``__``, e.g. ``ROUTET2I_BUDGET__CLOUD_SHARE=0.3``; the value ``null`` means None), then the YAML file, then the class defaults.
An invalid value fails at once with a :class:`~routet2i.errors.ConfigError` that names the field,
the value and the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from routet2i.errors import ConfigError, Routet2iError

#: The folder of the YAML defaults: package data (``routet2i/configs``), so that a wheel install
#: has them too. In a checkout it is a link to the top-level ``configs/``, the files the docs,
#: the Dockerfile and docker-compose name.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Where the rated datasets live unless ``ROUTET2I_DATA_DIR`` says otherwise (never copied in).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

S = TypeVar("S", bound="YamlSettings")
M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A nested settings block: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class YamlSettings(BaseSettings):
    """Base of every top-level settings class. Load with :meth:`load`."""

    model_config = SettingsConfigDict(
        env_prefix="ROUTET2I_",
        env_nested_delimiter="__",
        env_parse_none_str="null",  # ROUTET2I_BUDGET__CLOUD_SHARE=null clears an optional field
        extra="forbid",
        validate_default=True,
    )

    #: A subclass may name its default file inside :data:`CONFIG_DIR`.
    default_file: ClassVar[str | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment must override it.
        return env_settings, init_settings, file_secret_settings

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


def validate_or_explain(cls: type[M], data: dict[str, Any], source: str) -> M:
    """``cls.model_validate(data)``, turning a ValidationError into a ConfigError that names
    every bad field with its value and where it came from."""
    try:
        if issubclass(cls, BaseSettings):
            return cls(**data)
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain_validation_error(exc, source)) from None


def explain_validation_error(exc: ValidationError, source: str) -> str:
    """One line a bad field: ``field 'budget.cloud_share' = 1.7: Input should be ≤ 1``."""
    lines = [f"invalid settings ({source}; environment prefix ROUTET2I_):"]
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "<root>"
        env_name = "ROUTET2I_" + "__".join(str(p).upper() for p in err["loc"])
        value = err.get("input")
        where = f" (from ${env_name})" if env_name in os.environ else ""
        lines.append(f"  field '{field}' = {value!r}{where}: {err['msg']}")
    return "\n".join(lines)


def data_dir() -> Path:
    """The rated-data folder: ``$ROUTET2I_DATA_DIR`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("ROUTET2I_DATA_DIR")
    return Path(env) if env else DEFAULT_DATA_DIR
