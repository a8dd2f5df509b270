"""A diffusers model on the CPU logs one warning with the expected seconds per image, and names the
request deadline when the estimate comes near it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from routet2i.workers.cpu_estimate import PipelineSize, cpu_seconds, cpu_warning, warn_if_cpu
from routet2i.workers.diffusers_backend import DiffusersBackend
from tests.workers.harness import tiny_settings

#: The parameter counts of SD-Turbo (SD 2.1's UNet, OpenCLIP-H text) and SDXL base (both CLIPs).
SD_TURBO = PipelineSize(
    denoiser_params=865_910_724, transformer=False, decoder_params=49_490_199, text_params=354_030_080
)
SDXL = PipelineSize(
    denoiser_params=2_567_463_684, transformer=False, decoder_params=49_490_199, text_params=817_060_864
)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "runs on the CPU" in r.getMessage()
    ]


def test_a_tiny_pipeline_loaded_on_the_cpu_logs_one_estimate(
    tiny_pipeline: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="routet2i.workers")
    backend = DiffusersBackend(tiny_settings(tiny_pipeline("sd")))
    backend._load()
    (line,) = _warnings(caplog)
    assert line.startswith("tiny runs on the CPU: expect about ")
    assert "s per 64x64 image at 2 steps on 1 thread " in line
    assert "deadline" not in line  # a tiny model is far from its 60 s deadline


def test_no_warning_off_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="routet2i.workers")
    assert warn_if_cpu(object(), "cuda:0", tiny_settings("unused"), threads=2) is None
    assert _warnings(caplog) == []


def test_the_documented_estimates() -> None:
    # the figures of the module docstring: measured parts 9 s (UNet step) + 42 s (VAE decode)
    turbo = cpu_seconds(SD_TURBO, width=512, height=512, steps=1, guided=False, threads=2)
    assert 40 < turbo < 65
    sdxl = cpu_seconds(SDXL, width=1024, height=1024, steps=30, guided=True, threads=2)
    assert 80 * 60 < sdxl < 110 * 60
    # twice the threads, half the time; guidance doubles the denoiser's share
    assert cpu_seconds(SD_TURBO, width=512, height=512, steps=1, guided=False, threads=4) == pytest.approx(turbo / 2)
    unguided = cpu_seconds(SDXL, width=1024, height=1024, steps=30, guided=False, threads=2)
    assert 1.9 < sdxl / unguided < 2.0


def test_the_warning_names_the_deadline_when_near_or_above_it() -> None:
    near = cpu_warning("sd-turbo", 52, width=512, height=512, steps=1, threads=2, deadline_s=60)
    assert "expect about 52 s per 512x512 image at 1 step on 2 threads" in near
    assert "near the request deadline of 60 s (queue.default_timeout_s" in near
    above = cpu_warning("sdxl-base-1.0", 5780, width=1024, height=1024, steps=30, threads=2, deadline_s=300)
    assert "expect about 96 min per 1024x1024 image" in above and "above the request deadline of 300 s" in above
    far = cpu_warning("tiny", 0.04, width=64, height=64, steps=2, threads=1, deadline_s=60)
    assert "about 0.04 s" in far and "deadline" not in far
