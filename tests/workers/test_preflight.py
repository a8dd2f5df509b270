"""The preflight: a worker whose model cannot load here says so before serving, in one line that
names the model, the cause and the fixes, within seconds and without retrying the hub."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routet2i.workers.preflight import (
    ModelUnavailable,
    check_model,
    check_models,
    download_command,
    offline_variable,
    probe_hub,
)
from routet2i.workers.settings import WorkerSettings
from tests.workers.harness import free_port, tiny_settings

REPO = Path(__file__).resolve().parents[2]
DEMO_FIX = "run `routet2i worker --demo edge`"
TURBO = "stabilityai/sd-turbo"


def _repo_settings(model: str = TURBO) -> WorkerSettings:
    return tiny_settings(model)


def _never(url: str, timeout_s: float) -> str | None:
    raise AssertionError("the hub must not be contacted")


def _cache_with(root: Path, repo_id: str) -> Path:
    """A Hugging Face cache folder holding ``repo_id``'s model_index.json at ``main``."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    return root


def test_offline_with_an_empty_cache_names_the_model_the_cause_and_the_fixes(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        check_models(
            [_repo_settings()], demo_fix=DEMO_FIX, env={"HF_HUB_OFFLINE": "1"}, cache_dir=tmp_path, probe=_never
        )
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"cannot load model '{TURBO}': not in the local Hugging Face cache ({tmp_path})")
    assert "the hub is offline (HF_HUB_OFFLINE=1)" in line
    assert f"`{download_command(TURBO)}`" in line and "point `model:`" in line and line.endswith(DEMO_FIX)


def test_transformers_offline_counts_too_and_falsy_values_do_not() -> None:
    assert offline_variable({"TRANSFORMERS_OFFLINE": "yes"}) == "TRANSFORMERS_OFFLINE=yes"
    assert offline_variable({"HF_HUB_OFFLINE": "0"}) is None
    assert offline_variable({}) is None


def test_an_unreachable_hub_is_asked_once_and_named(tmp_path: Path) -> None:
    asked: list[tuple[str, float]] = []

    def refused(url: str, timeout_s: float) -> str:
        asked.append((url, timeout_s))
        return "ConnectError: [Errno 111] Connection refused"

    with pytest.raises(ModelUnavailable) as caught:
        check_models(
            [_repo_settings(), _repo_settings("stabilityai/stable-diffusion-xl-base-1.0")],
            demo_fix=DEMO_FIX,
            env={},
            cache_dir=tmp_path,
            endpoint="http://hub.test",
            probe=refused,
        )
    assert asked == [("http://hub.test", 3.0)]  # one short probe for both models, no retries
    line = str(caught.value)
    assert line.startswith(f"cannot load models '{TURBO}': ")
    assert line.count("the hub http://hub.test is unreachable (ConnectError: [Errno 111] Connection refused)") == 2
    assert "(`hf download stabilityai/sd-turbo && hf download stabilityai/stable-diffusion-xl-base-1.0`)" in line


def test_the_hub_probe_tries_once_and_says_why() -> None:
    started = time.monotonic()
    why = probe_hub(f"http://127.0.0.1:{free_port()}", 3.0)  # nothing listens there
    assert why is not None and why.startswith("ConnectError") and time.monotonic() - started < 3


def test_a_reachable_hub_lets_the_load_download(tmp_path: Path) -> None:
    assert (
        check_model(_repo_settings(), env={}, cache_dir=tmp_path, endpoint="http://hub.test", probe=lambda u, t: None)
        is None
    )


def test_a_cached_model_passes_offline_without_asking_the_hub(tmp_path: Path) -> None:
    cache = _cache_with(tmp_path / "hub", TURBO)
    assert check_model(_repo_settings(), env={"HF_HUB_OFFLINE": "1"}, cache_dir=cache, probe=_never) is None


def test_a_local_folder_needs_its_model_index(tmp_path: Path) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    problem = check_model(tiny_settings(empty), probe=_never)
    assert problem is not None and "has no model_index.json" in problem.cause
    missing = check_model(tiny_settings(tmp_path / "nowhere" / "deep" / "model"), probe=_never)
    assert missing is not None and missing.cause.startswith("no such folder")
    (empty / "model_index.json").write_text("{}")
    assert check_model(tiny_settings(empty), probe=_never) is None


def test_a_hosted_api_without_its_key_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTET2I_TEST_MISSING_KEY", raising=False)
    settings = tiny_settings("gpt-image-1", backend="openai", batching={"enabled": False})
    settings.api.api_key_env = "ROUTET2I_TEST_MISSING_KEY"
    with pytest.raises(ModelUnavailable) as caught:
        check_models([settings], demo_fix=DEMO_FIX, probe=_never)
    line = str(caught.value)
    assert line.startswith("cannot load model 'gpt-image-1': the hosted images API at https://api.openai.com/v1")
    assert "set ROUTET2I_TEST_MISSING_KEY to the provider's API key" in line and "\n" not in line


def _run_offline(tmp_path: Path, *argv: str) -> tuple[int, float, str]:
    """Run the installed ``routet2i`` with the hub offline and an empty cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("ROUTET2I_")}
    hf_home = tmp_path / "hf"
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub")}
    command = Path(sys.executable).with_name("routet2i")
    started = time.monotonic()
    done = subprocess.run(
        [str(command), *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, time.monotonic() - started, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (("worker", "--config", "configs/edge-sd-turbo.yaml"), "routet2i worker --demo edge"),
        (("serve",), "routet2i serve --demo"),
    ],
    ids=["worker", "serve"],
)
def test_the_command_exits_fast_with_one_line_offline(tmp_path: Path, argv: tuple[str, ...], fix: str) -> None:
    rc, seconds, output = _run_offline(tmp_path, *argv)
    assert rc != 0 and seconds < 15, (rc, seconds, output)
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if TURBO in line]
    assert line.startswith(f"routet2i {argv[0]}: error: cannot load model")
    assert "the hub is offline (HF_HUB_OFFLINE=1)" in line and "--demo" in line and fix in line
