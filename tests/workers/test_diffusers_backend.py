"""The diffusers backend's loading options, straight through its own from_pretrained path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from routet2i.errors import ConfigError
from routet2i.workers.backend import GenerationJob
from routet2i.workers.diffusers_backend import DiffusersBackend, resolve_device, resolve_dtype
from tests.workers.harness import tiny_settings
from tests.workers.images import PNG_MAGIC


async def test_scheduler_override_warmup_and_close(tiny_pipeline: Callable[[str], Path]) -> None:
    settings = tiny_settings(
        tiny_pipeline("sd"),
        diffusers={"scheduler": "DDIMScheduler", "scheduler_options": {"timestep_spacing": "trailing"}},
    )
    backend = DiffusersBackend(settings)
    job = GenerationJob("a cat", None, 64, 64, 1, 0.0, seeds=(1, 2))
    try:
        await backend.start(warmup=job)
        [images] = await backend.generate([job])
        details = backend.details()
    finally:
        await backend.close()
    assert details["scheduler"] == "DDIMScheduler" and details["pipeline"] == "StableDiffusionPipeline"
    assert backend.pipeline is None  # released on close
    assert [im.seed for im in images] == [1, 2] and all(im.png.startswith(PNG_MAGIC) for im in images)


async def test_unknown_scheduler_is_a_config_error(tiny_pipeline: Callable[[str], Path]) -> None:
    backend = DiffusersBackend(tiny_settings(tiny_pipeline("sd"), diffusers={"scheduler": "NoSuchScheduler"}))
    try:
        with pytest.raises(ConfigError, match=r"diffusers\.scheduler"):
            await backend.start(None)
    finally:
        await backend.close()


def test_auto_device_and_dtype_on_cpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto") in ("cpu", "mps")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.float16
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16


async def test_two_pipelines_load_at_once_in_one_process(tiny_pipeline: Callable[[str], Path]) -> None:
    """``routet2i serve`` loads edge and cloud in one process; concurrent loads must not race."""
    import asyncio

    backends = [DiffusersBackend(tiny_settings(tiny_pipeline(kind))) for kind in ("sd", "sdxl", "sd", "sdxl")]
    try:
        await asyncio.gather(*(b.start(None) for b in backends))
        assert all(b.pipeline is not None for b in backends)
    finally:
        await asyncio.gather(*(b.close() for b in backends))
