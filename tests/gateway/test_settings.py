"""Gateway settings: the shipped YAML, environment overrides, errors that name the field."""

from __future__ import annotations

import pytest

from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings


def test_shipped_config_loads_and_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GatewaySettings.load()
    assert settings.budget.cloud_share == 0.3 and settings.tiers.edge.model == "sd-turbo"
    assert settings.budget.cloud_limit == 300
    monkeypatch.setenv("ROUTET2I_GATEWAY_BUDGET__CLOUD_SHARE", "0.2")
    monkeypatch.setenv("ROUTET2I_GATEWAY_TIERS__CLOUD__URL", "http://gpu-2:8002/")
    monkeypatch.setenv("ROUTET2I_GATEWAY_SECURITY__API_KEYS", '["key-one"]')
    settings = GatewaySettings.load()
    assert settings.budget.cloud_share == 0.2 and settings.tiers.cloud.url == "http://gpu-2:8002"
    assert settings.security.api_keys[0].get_secret_value() == "key-one"
    assert "key-one" not in repr(settings) and "key-one" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"budget": {"cloud_share": 1.5}}, "budget.cloud_share"),
        ({"tiers": {"edge": {"url": "edge:8001", "model": "a"}, "cloud": {"model": "b"}}}, "tiers.edge.url"),
        ({"limits": {"default_width": 500}}, "limits"),
        ({"routing": {"allow_forced": ["gpu"]}}, "routing.allow_forced"),
    ],
)
def test_bad_values_name_the_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        GatewaySettings.load(None, **override)


def test_tier_model_names_must_differ_and_avoid_reserved_words() -> None:
    with pytest.raises(ConfigError, match="must differ"):
        GatewaySettings.load(None, tiers={"edge": {"model": "m"}, "cloud": {"model": "m"}})
    with pytest.raises(ConfigError, match="reserved"):
        GatewaySettings.load(None, tiers={"edge": {"model": "auto"}, "cloud": {"model": "m"}})
