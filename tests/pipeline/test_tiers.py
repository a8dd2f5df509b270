"""Opening a tier: a worker config loaded in-process through the worker's own app, a URL, and
per-tier request parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from routet2i.errors import ConfigError, Routet2iError
from routet2i.pipeline.tiers import is_url, open_tier, parse_parameters
from routet2i.workers.schemas import GenerateRequest
from tests.pipeline.conftest import EDGE_MODEL, TierConfigs, free_port


def test_parse_parameters() -> None:
    assert parse_parameters(["steps=3", "guidance_scale=1.5", "negative_prompt=blurry, dark"], "--x") == {
        "steps": 3,
        "guidance_scale": 1.5,
        "negative_prompt": "blurry, dark",
    }
    with pytest.raises(ConfigError, match=r"--edge-param 'seed=1': expected KEY=VALUE with KEY one of width"):
        parse_parameters(["seed=1"], "--edge-param")
    with pytest.raises(ConfigError, match="steps must be int"):
        parse_parameters(["steps=two"], "--cloud-param")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_parameters(["steps"], "--cloud-param")


def test_is_url() -> None:
    assert is_url("http://127.0.0.1:8001") and is_url("https://edge.example")
    assert not is_url("configs/edge-sd-turbo.yaml")


async def test_a_config_runs_the_worker_in_process(tier_configs: TierConfigs) -> None:
    async with open_tier("edge", str(tier_configs.edge), timeout_s=60, ready_timeout_s=60) as endpoint:
        assert endpoint.in_process and endpoint.model == EDGE_MODEL and endpoint.seeded
        assert endpoint.info.ready and endpoint.info.backend == "diffusers"
        assert endpoint.effective_parameters({"steps": 3}) == {
            "width": 64,
            "height": 64,
            "steps": 3,
            "guidance_scale": 0.0,
            "negative_prompt": None,
        }
        first = await endpoint.client.generate(GenerateRequest(prompt="a red fox", seed=11))
        again = await endpoint.client.generate(GenerateRequest(prompt="a red fox", seed=11))
        assert first.images[0].seed == 11 and first.images[0].b64_png == again.images[0].b64_png
        assert first.parameters.width == 64 and first.model == EDGE_MODEL


async def test_a_missing_config_or_dead_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a worker URL"):
        async with open_tier("cloud", str(tmp_path / "nope.yaml"), timeout_s=1, ready_timeout_s=1):
            pass
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Routet2iError, match=rf"edge worker {url} is unreachable after 0.3 s"):
        async with open_tier("edge", url, timeout_s=1, ready_timeout_s=0.3):
            pass


async def test_a_model_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(f"model: {tmp_path / 'no-such-model'}\nname: broken\nwarmup: false\ndiffusers: {{device: cpu}}\n")
    with pytest.raises(Routet2iError, match="the model failed to load"):
        async with open_tier("edge", str(config), timeout_s=5, ready_timeout_s=60):
            pass
