"""Worker settings: the shipped configs load, bad values fail naming the field, env overrides."""

from __future__ import annotations

import pytest

from routet2i.config import CONFIG_DIR
from routet2i.errors import ConfigError
from routet2i.workers.settings import WorkerSettings

WORKER_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.yaml") if p.name.startswith(("edge-", "cloud-")))


def test_every_model_has_a_config() -> None:
    assert {"edge-sd-turbo.yaml", "cloud-sdxl.yaml", "cloud-sd3.yaml", "cloud-openai-images.yaml"} <= set(
        WORKER_CONFIGS
    )
    assert {"edge-sd15.yaml", "edge-sdxl-turbo.yaml"} <= set(WORKER_CONFIGS)


@pytest.mark.parametrize("name", WORKER_CONFIGS)
def test_shipped_configs_are_valid(name: str) -> None:
    settings = WorkerSettings.load(CONFIG_DIR / name)
    assert settings.tier in ("edge", "cloud") and name.startswith(settings.tier)
    d, lim = settings.defaults, settings.limits
    assert d.width % lim.size_multiple == 0 and lim.min_steps <= d.steps <= lim.max_steps


def test_edge_default_is_sd_turbo() -> None:
    settings = WorkerSettings.load()
    assert settings.model == "stabilityai/sd-turbo" and settings.backend == "diffusers"
    assert (settings.defaults.steps, settings.defaults.guidance_scale, settings.defaults.width) == (1, 0.0, 512)
    assert (settings.limits.min_steps, settings.limits.max_steps) == (1, 4)


def test_defaults_outside_limits_fail_naming_the_field(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "bad.yaml"  # type: ignore[operator]
    path.write_text("model: x\ndefaults: {steps: 9}\nlimits: {max_steps: 4}\n")
    with pytest.raises(ConfigError, match=r"defaults\.steps"):
        WorkerSettings.load(path)
    path.write_text("model: x\nbatching: {max_batch_images: 0}\n")
    with pytest.raises(ConfigError, match=r"batching\.max_batch_images"):
        WorkerSettings.load(path)
    path.write_text("model: x\ndiffusers: {dtype: float8}\n")
    with pytest.raises(ConfigError, match=r"diffusers\.dtype"):
        WorkerSettings.load(path)


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_WORKER_DIFFUSERS__DEVICE", "cuda:1")
    monkeypatch.setenv("ROUTET2I_WORKER_SERVER__PORT", "9101")
    settings = WorkerSettings.load(CONFIG_DIR / "cloud-sdxl.yaml")
    assert settings.diffusers.device == "cuda:1" and settings.server.port == 9101
    assert settings.diffusers.variant == "fp16"  # the rest of the block still comes from the file
