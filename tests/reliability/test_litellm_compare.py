"""The LiteLLM comparison's pieces that need no LiteLLM: where each variant sends its request,
the proxy's config, finding the command, reading a process's CPU time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from routet2i.bench import litellm_compare as lc
from routet2i.bench.processes import BenchError


def test_each_variant_goes_to_its_server_with_its_model() -> None:
    t = lc.Targets("http://w", "http://ll", "http://gw", {"Authorization": "Bearer client"})
    assert t.request("direct", "p")[0] == "http://w/v1/images/generations"
    url, body, headers = t.request("litellm", "p")
    assert (url, body["model"], headers["Authorization"]) == (
        "http://ll/v1/images/generations",
        lc.LITELLM_MODEL,
        f"Bearer {lc.LITELLM_KEY}",
    )
    assert t.request("gateway_forced", "p")[1]["model"] == "edge"
    url, body, headers = t.request("gateway_auto", "a fox")
    assert (url, body["model"], body["prompt"], headers) == (
        "http://gw/v1/images/generations",
        "auto",
        "a fox",
        {"Authorization": "Bearer client"},
    )


def test_the_proxy_config_points_at_the_instant_server() -> None:
    [model] = lc.litellm_config("http://127.0.0.1:9/v1")["model_list"]
    assert model["model_name"] == lc.LITELLM_MODEL and model["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"
    env = lc.litellm_env()
    assert env["LITELLM_MASTER_KEY"] == lc.LITELLM_KEY and env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_the_command_is_found_in_a_venv_or_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="litellm\\[proxy\\]"):
        lc.litellm_executable(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "litellm").write_text("#!/bin/sh\n")
    assert lc.litellm_executable(tmp_path) == tmp_path / "bin" / "litellm"


def test_cpu_time_of_a_process_grows() -> None:
    before = lc.cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert lc.cpu_seconds(os.getpid()) > before >= 0
    assert lc.cpu_seconds(2**22 + 12345) == 0.0  # no such process
