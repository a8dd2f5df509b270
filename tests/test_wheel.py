"""The built wheel, unpacked away from the checkout, carries its defaults: the YAML files of
``configs/`` and the default router (a regular install has no checkout to fall back on)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel with the project's own build backend (PEP 517 hook, offline) and unpack
    it, which for a pure-Python wheel is what ``pip install --target`` does."""
    out = tmp_path_factory.mktemp("wheel")
    # A copy of what the sdist holds, so that no build/ or egg-info of the checkout leaks in.
    source = out / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "configs", source / "configs")
    shutil.copytree(ROOT / "routet2i", source / "routet2i", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    code = "import setuptools.build_meta as b, sys; print(b.build_wheel(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, check=True, timeout=120
    )
    wheel = out / built.stdout.strip().splitlines()[-1]
    site = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def run_installed(site: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_wheel_carries_every_default_config(unpacked_wheel: Path) -> None:
    shipped = {p.name for p in (unpacked_wheel / "routet2i" / "configs").glob("*.yaml")}
    assert shipped == {p.name for p in (ROOT / "configs").glob("*.yaml")}
    for name in shipped:  # real files with the checkout's content, not links
        packaged = unpacked_wheel / "routet2i" / "configs" / name
        assert not packaged.is_symlink()
        assert packaged.read_bytes() == (ROOT / "configs" / name).read_bytes()


def test_the_wheel_carries_the_cue_lexicon(unpacked_wheel: Path) -> None:
    # the word lists of the prompt-feature cues are package data; the default router needs them
    name = Path("routet2i", "predictor", "data", "cue_lexicon.json")
    packaged = unpacked_wheel / name
    assert packaged.is_file() and not packaged.is_symlink()
    assert packaged.read_bytes() == (ROOT / name).read_bytes()


def test_an_installed_package_loads_its_defaults_and_routes(unpacked_wheel: Path, tmp_path: Path) -> None:
    code = f"""
import json, routet2i
from routet2i.config import CONFIG_DIR
from routet2i.quality.metrics import load_metric_set
from routet2i.gateway.settings import GatewaySettings
from routet2i.predictor.settings import TrainingSettings
from routet2i.cli import main
checkout = {str(ROOT / "configs")!r}
print(json.dumps({{
    "package": routet2i.__file__,
    "config_dir": str(CONFIG_DIR),
    "metrics": [m.name for m in load_metric_set().metrics],
    "same_as_files": [
        cls.load() == cls.load(checkout + "/" + name)
        for cls, name in ((GatewaySettings, "gateway.yaml"), (TrainingSettings, "training.yaml"))
    ],
}}))
main(["route", "a red car next to two blue bicycles"])
"""
    result = run_installed(unpacked_wheel, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    facts = json.loads(lines[0])
    assert facts["package"].startswith(str(unpacked_wheel))  # not the checkout
    assert facts["config_dir"] == str(unpacked_wheel / "routet2i" / "configs")
    assert facts["metrics"], "the default metric set loads"
    assert facts["same_as_files"] == [True, True]  # the shipped YAML defaults, not bare class defaults
    decision = json.loads(lines[1])
    assert decision["tier"] in ("edge", "cloud")


#: Each bench suite at (about) its smallest size, and a line its report prints. fuzz runs on the
#: gateway only (the worker's half adds ~10 s to a run that already takes ~40 s at one example).
BENCHES = {
    "router": (
        ["--single", "5", "--batches", "1", "--batch-size", "4", "--threads", "1", "--n-metrics", "2"],
        "decisions per s",
    ),
    "overhead": (["--requests", "5"], "gateway, new prompt (router)"),
    "load": (["--clients", "2", "--duration", "1", "--warmup", "0"], "load: 2 clients for 1 s"),
    "faults": (["--clients", "2", "--duration", "2", "--scenario", "garbage"], "garbage: 2 clients for 2 s"),
    "fuzz": (["--target", "gateway", "--max-examples", "1"], "gateway: "),
}


def test_the_installed_bench_builds_its_tiny_models_from_the_package(unpacked_wheel: Path, tmp_path: Path) -> None:
    code = """
import importlib.util, json
import routet2i.bench.stack, routet2i.testing.pipelines, routet2i.testing.tiny_router
print(json.dumps({
    "files": [routet2i.bench.stack.__file__, routet2i.testing.pipelines.__file__, routet2i.testing.tiny_router.__file__],
    "tests_importable": importlib.util.find_spec("tests") is not None,
}))
"""
    result = run_installed(unpacked_wheel, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.splitlines()[-1])
    assert all(f.startswith(str(unpacked_wheel)) for f in facts["files"]), facts["files"]
    assert facts["tests_importable"] is False  # no checkout to fall back on


@pytest.mark.slow
@pytest.mark.parametrize("suite", list(BENCHES))
def test_the_installed_bench_runs_outside_the_checkout(unpacked_wheel: Path, tmp_path: Path, suite: str) -> None:
    """``routet2i bench SUITE`` from the unpacked wheel, in a folder away from the checkout:
    the tiny models (load, faults, fuzz) are built by the package's own ``routet2i.testing``."""
    options, figure = BENCHES[suite]
    env = {**os.environ, "PYTHONPATH": str(unpacked_wheel), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "routet2i.cli", "--log-level", "WARNING", "bench", suite, *options]
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert figure in result.stdout, result.stdout[-4000:]
    assert "MISSED" not in result.stdout
