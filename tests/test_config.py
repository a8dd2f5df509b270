"""Settings: YAML + environment overrides, validated with messages naming field and value."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from routet2i.config import StrictModel, YamlSettings, read_yaml
from routet2i.errors import ConfigError


class Budget(StrictModel):
    cloud_share: float = Field(0.3, ge=0.0, le=1.0)


class DemoSettings(YamlSettings):
    name: str = "demo"
    port: int = Field(8000, ge=1, le=65535)
    budget: Budget = Budget()


def test_yaml_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: from-yaml\nport: 9000\nbudget:\n  cloud_share: 0.5\n")
    s = DemoSettings.load(path)
    assert (s.name, s.port, s.budget.cloud_share) == ("from-yaml", 9000, 0.5)
    monkeypatch.setenv("ROUTET2I_PORT", "9100")
    monkeypatch.setenv("ROUTET2I_BUDGET__CLOUD_SHARE", "0.25")
    s = DemoSettings.load(path)
    assert (s.name, s.port, s.budget.cloud_share) == ("from-yaml", 9100, 0.25)


def test_invalid_value_names_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("budget:\n  cloud_share: 1.7\n")
    with pytest.raises(ConfigError) as info:
        DemoSettings.load(path)
    message = str(info.value)
    assert "budget.cloud_share" in message and "1.7" in message and str(path) in message


def test_invalid_environment_value_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_PORT", "99999")
    with pytest.raises(ConfigError, match=r"field 'port' = .*99999.*ROUTET2I_PORT"):
        DemoSettings.load()


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("prot: 80\n")
    with pytest.raises(ConfigError, match="prot"):
        DemoSettings.load(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(tmp_path / "broken.yaml")


class Optional_(YamlSettings):
    limit: float | None = 1.0


def test_null_in_environment_clears_an_optional_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_LIMIT", "null")
    assert Optional_.load().limit is None
