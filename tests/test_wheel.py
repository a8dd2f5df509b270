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
