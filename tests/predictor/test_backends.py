"""The router backends (torch, int8, onnx, onnx-int8) against the torch fp32 reference: the tiny
router of tests/conftest.py, the ONNX export cache and check, and the shipped router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor import onnx_export
from routet2i.predictor.backends import BACKENDS, DEFAULT_BACKEND, parse_backend
from routet2i.predictor.inference import CheckpointPredictor
from routet2i.testing.tiny_router import REFERENCE_PROMPTS
from tests.torch_threads import one_torch_thread

#: Short (fewer tokens than the predictor's top-K), empty, truncated and ordinary prompts.
PROMPTS = ["fox", "", "a zebra " * 300, *REFERENCE_PROMPTS]

#: Largest |PRŜ − PRŜ_torch| per backend on the tiny router (random weights, d = 32): fp32 ONNX is
#: the same computation; int8 approximates it.
TOLERANCE = {"torch": 0.0, "onnx": 1e-5, "int8": 0.05, "onnx-int8": 0.05}


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def reference(tiny_router_dir: Path) -> CheckpointPredictor:
    return CheckpointPredictor(tiny_router_dir, backend="torch")


def test_backend_names_are_validated(tiny_router_dir: Path) -> None:
    from pydantic import ValidationError

    from routet2i.gateway.settings import RouterOptions

    assert [parse_backend(b) for b in BACKENDS] == list(BACKENDS)
    assert DEFAULT_BACKEND in BACKENDS
    assert RouterOptions().backend == DEFAULT_BACKEND
    assert RouterOptions(backend="int8").backend == "int8"
    with pytest.raises(ValidationError, match="onnx-int8"):
        RouterOptions(backend="tensorrt")
    with pytest.raises(ConfigError, match="unknown router backend 'tensorrt'; choose one of torch, int8"):
        CheckpointPredictor(tiny_router_dir, backend="tensorrt")


def test_cpu_only_backends_refuse_another_device(tiny_router_dir: Path) -> None:
    with pytest.raises(ConfigError, match="runs on the CPU, not on 'cuda'"):
        CheckpointPredictor(tiny_router_dir, backend="int8", device="cuda")


@pytest.mark.parametrize("backend", ["onnx", "int8", "onnx-int8"])
def test_backend_agrees_with_torch_fp32(
    backend: str, tiny_router_dir: Path, reference: CheckpointPredictor, onnx_cache: Path
) -> None:
    router = CheckpointPredictor(tiny_router_dir, backend=backend, onnx_cache=onnx_cache, device="auto")
    assert router.device == "cpu" and router.describe()["backend"] == backend
    want_prs, want_d = reference.scores(PROMPTS)
    got_prs, got_d = router.scores(PROMPTS)
    assert want_d is not None and got_d is not None
    np.testing.assert_allclose(got_prs, want_prs, rtol=0, atol=TOLERANCE[backend])
    np.testing.assert_allclose(got_d, want_d, rtol=0, atol=2 * TOLERANCE[backend])
    # one by one as in a batch (fp32 exactly; int8 quantises each call's activations on their own)
    alone = np.array([router.scores([p])[0][0] for p in PROMPTS])
    np.testing.assert_allclose(alone, want_prs, rtol=0, atol=TOLERANCE[backend])
    if backend == "onnx":
        alpha = reference.threshold_for_budget(0.3)
        assert [p.prs < alpha for p in router.predict(PROMPTS)] == [p.prs < alpha for p in reference.predict(PROMPTS)]


def test_onnx_export_is_cached_by_weights(
    tiny_router_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = CheckpointPredictor(tiny_router_dir, backend="onnx", onnx_cache=tmp_path)
    files = sorted(tmp_path.glob("router-*.onnx"))
    assert len(files) == 1 and not list(tmp_path.glob(".export-*"))

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "export_graph", no_export)
    again = CheckpointPredictor(tiny_router_dir, backend="onnx", onnx_cache=tmp_path)
    np.testing.assert_array_equal(again.scores(PROMPTS)[0], first.scores(PROMPTS)[0])
    # other metric weights are other numbers in the graph: another file
    with pytest.raises(AssertionError, match="exported again"):
        CheckpointPredictor(tiny_router_dir, backend="onnx", onnx_cache=tmp_path, metric_weights={"detail": 1})


def test_an_unwritable_cache_falls_back_to_the_temporary_folder(
    tiny_router_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tempfile

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    router = CheckpointPredictor(tiny_router_dir, backend="onnx", onnx_cache=blocker / "onnx")
    assert router.scores(PROMPTS[:2])[0].shape == (2,)
    assert len(list((tmp_path / "routet2i-onnx").glob("router-*.onnx"))) == 1
    assert "is not writable" in caplog.text


def test_the_cache_keeps_the_most_recently_used_exports(tmp_path: Path) -> None:
    import os

    for i in range(onnx_export.CACHE_KEEP + 2):
        old = tmp_path / f"router-{i:032d}.onnx"
        old.write_bytes(b"")
        os.utime(old, (1000.0 + i, 1000.0 + i))
    onnx_export._evict(tmp_path, keep=onnx_export.CACHE_KEEP)
    left = sorted(f.name for f in tmp_path.glob("router-*.onnx"))
    assert left == [f"router-{i:032d}.onnx" for i in range(2, onnx_export.CACHE_KEEP + 2)]


def test_a_mismatching_export_is_refused(
    tiny_router_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "EXPORT_TOLERANCE", -1.0)
    with pytest.raises(CheckpointError, match="differs from PyTorch"):
        CheckpointPredictor(tiny_router_dir, backend="onnx", onnx_cache=tmp_path)
    assert not list(tmp_path.glob("router-*.onnx"))


def test_onnx_graph_gives_the_correction_embedding(reference: CheckpointPredictor, tmp_path: Path) -> None:
    from routet2i.encoders.hf import HFTextEncoder
    from routet2i.predictor.onnx_runtime import OnnxRuntime
    from routet2i.predictor.runtime import TorchRuntime

    encoder = reference.encoder
    assert isinstance(encoder, HFTextEncoder)
    path = onnx_export.exported_router(encoder, reference.model, "onnx", with_embedding=True, directory=tmp_path)
    want = TorchRuntime(encoder, reference.model, "cpu", with_embedding=True).run(PROMPTS)
    got = OnnxRuntime(path, encoder, reference.model, with_embedding=True, num_threads=1).run(PROMPTS)
    assert want.embedding is not None and got.embedding is not None
    np.testing.assert_allclose(got.embedding, want.embedding, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.prs, want.prs, rtol=0, atol=1e-5)


SHIPPED_PROMPTS = [
    "a red fox",
    "bond",
    "two cats playing chess in a library, one of them wearing a crown",
    "the word 'HELLO' painted in red on a blue wall next to three yellow bicycles",
    "a photograph of an astronaut riding a horse",
    "an oil painting of a lighthouse on a cliff during a storm at night",
]


def test_shipped_router_decisions_are_unchanged_on_onnx(onnx_cache: Path) -> None:
    torch_router = CheckpointPredictor(None, backend="torch")
    onnx_router = CheckpointPredictor(None, backend="onnx", onnx_cache=onnx_cache, encoder=torch_router.encoder)
    want, _ = torch_router.scores(SHIPPED_PROMPTS)
    got, _ = onnx_router.scores(SHIPPED_PROMPTS)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    for budget in (0.1, 0.3, 0.5):
        alpha = torch_router.threshold_for_budget(budget)
        assert (got < alpha).tolist() == (want < alpha).tolist()
