"""The package stands alone: no module under ``routet2i/`` imports the checkout's ``tests``
package (an installed wheel has none), and ``import routet2i`` loads nothing heavy."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "routet2i"
#: A string that is a dotted module name in ``tests`` (what an ``importlib`` helper would be given).
TESTS_MODULE = re.compile(r"tests(\.\w+)+")
HEAVY = ("torch", "diffusers", "transformers", "numpy", "scipy", "open_clip", "safetensors")


def _names_tests(name: object) -> bool:
    return isinstance(name, str) and (name == "tests" or name.startswith("tests."))


def _imports_of_tests(path: Path) -> list[str]:
    """``file:line`` of every ``import tests...``, ``from tests... import``, and every string
    that is a dotted name in ``tests`` (``importlib.import_module("tests.x")``) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        hit = False
        if isinstance(node, ast.Import):
            hit = any(_names_tests(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            hit = node.level == 0 and _names_tests(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            hit = TESTS_MODULE.fullmatch(node.value) is not None
        if hit:
            found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    return found


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, away from the checkout (cwd elsewhere, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_no_package_source_imports_tests() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "testing" / "pipelines.py" in sources  # the tiny builders live in the package
    found = [hit for path in sources for hit in _imports_of_tests(path)]
    assert found == []


def test_every_package_module_imports_without_the_checkout(tmp_path: Path) -> None:
    code = """
import importlib, json, pkgutil, sys
import routet2i
names = [m.name for m in pkgutil.walk_packages(routet2i.__path__, "routet2i.")]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
loaded_tests = sorted(m for m in sys.modules if m == "tests" or m.startswith("tests."))
print(json.dumps({"names": names, "failed": failed, "tests": loaded_tests}))
"""
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout.splitlines()[-1])
    assert "routet2i.testing.tiny_router" in facts["names"]
    assert "routet2i.bench.stack" in facts["names"]
    assert facts["failed"] == {}
    assert facts["tests"] == []


def test_import_routet2i_loads_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import json, sys; import routet2i, routet2i.testing;"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def _loaded_after(modules: list[str], watched: tuple[str, ...], cwd: Path) -> list[str]:
    """Which of ``watched`` are in ``sys.modules`` after importing every module of ``modules``
    (and their submodules) in a fresh interpreter."""
    code = f"""
import importlib, json, pkgutil, sys
for top in {modules!r}:
    package = importlib.import_module(top)
    for m in pkgutil.walk_packages(getattr(package, "__path__", []), top + "."):
        importlib.import_module(m.name)
print(json.dumps(sorted(w for w in {watched!r} if w in sys.modules)))
"""
    result = _run(code, cwd)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_the_routing_core_loads_no_model_code(tmp_path: Path) -> None:
    watched = ("torch", "transformers", "diffusers", "routet2i.predictor", "routet2i.gateway", "routet2i.quality")
    assert _loaded_after(["routet2i.routing"], watched, tmp_path) == []


def test_the_workers_know_nothing_of_routing(tmp_path: Path) -> None:
    watched = ("routet2i.routing", "routet2i.predictor", "routet2i.quality", "routet2i.gateway")
    assert _loaded_after(["routet2i.workers"], watched, tmp_path) == []


def test_the_routing_tests_run_without_torch() -> None:
    """tests/routing (budget, breaker, batcher, dispatcher) needs no model library: run it in a
    fresh interpreter where importing torch or transformers fails."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None;"
        "import pytest; sys.exit(pytest.main(['tests/routing', '-q', '-p', 'no:cacheprovider']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "torch" not in result.stdout
