"""Settings: YAML + environment overrides, validated with messages naming field and value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from routet2i.config import CONFIG_DIR, StrictModel, YamlSettings, read_yaml, service_env_prefix
from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings
from routet2i.workers.settings import WorkerSettings


class Budget(StrictModel):
    cloud_share: float = Field(0.3, ge=0.0, le=1.0)


class DemoSettings(YamlSettings):
    model_config = SettingsConfigDict(env_prefix=service_env_prefix("demo"))

    name: str = "demo"
    port: int = Field(8000, ge=1, le=65535)
    budget: Budget = Budget()


def test_yaml_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: from-yaml\nport: 9000\nbudget:\n  cloud_share: 0.5\n")
    s = DemoSettings.load(path)
    assert (s.name, s.port, s.budget.cloud_share) == ("from-yaml", 9000, 0.5)
    monkeypatch.setenv("ROUTET2I_DEMO_PORT", "9100")
    monkeypatch.setenv("ROUTET2I_DEMO_BUDGET__CLOUD_SHARE", "0.25")
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
    monkeypatch.setenv("ROUTET2I_DEMO_PORT", "99999")
    with pytest.raises(ConfigError, match=r"field 'port' = .*99999.*ROUTET2I_DEMO_PORT"):
        DemoSettings.load()


def test_legacy_shared_prefix_is_read_below_the_new_one_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ROUTET2I_PORT", "9200")
    monkeypatch.setenv("ROUTET2I_BUDGET__CLOUD_SHARE", "0.4")
    with caplog.at_level(logging.WARNING, logger="routet2i.config"):
        s = DemoSettings.load()
    assert (s.port, s.budget.cloud_share) == (9200, 0.4)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "$ROUTET2I_PORT is deprecated" in warned and "$ROUTET2I_DEMO_PORT" in warned
    assert "$ROUTET2I_DEMO_BUDGET__CLOUD_SHARE" in warned
    monkeypatch.setenv("ROUTET2I_DEMO_PORT", "9300")  # the service's own name wins
    assert DemoSettings.load().port == 9300


def test_bad_legacy_value_names_the_new_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_PORT", "0")
    with pytest.raises(ConfigError, match=r"from \$ROUTET2I_PORT, a deprecated name .*use \$ROUTET2I_DEMO_PORT"):
        DemoSettings.load()


def test_gateway_overrides_do_not_reach_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` loads the gateway and the workers in one environment: each reads its own prefix."""
    monkeypatch.setenv("ROUTET2I_GATEWAY_LIMITS__MAX_ROUTE_BATCH", "16")
    monkeypatch.setenv("ROUTET2I_GATEWAY_SERVER__PORT", "8100")
    monkeypatch.setenv("ROUTET2I_WORKER_SERVER__PORT", "9101")
    gateway = GatewaySettings.load(CONFIG_DIR / "gateway.yaml")
    worker = WorkerSettings.load(CONFIG_DIR / "edge-sd-turbo.yaml")
    assert (gateway.limits.max_route_batch, gateway.server.port) == (16, 8100)
    assert worker.server.port == 9101


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
