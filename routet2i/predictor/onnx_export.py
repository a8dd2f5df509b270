"""Export the router (encoder + predictor) to one ONNX graph, cached, checked against PyTorch.

The graph takes ``input_ids`` and ``attention_mask`` (B, n) int64 — the encoder's tokenizer
output, n ≥ :func:`min_tokens` — and ``features`` (B, F) float32 when the predictor uses
prompt-feature cues, and gives ``prs`` (B,), ``d_hat`` (B, N) unless the checkpoint has a single
PRS head, and ``embedding`` (B, d) when a learned correction needs it: exactly what
:func:`routet2i.predictor.runtime.decision_tensors` computes, traced (TorchScript exporter).

Exports are cached in :func:`cache_dir` under a key made of the weights themselves (encoder and
predictor, metric weights included), the architecture, the outputs, the backend and the versions
of torch, onnx and onnxruntime: a reloaded checkpoint with other weights gets its own file, an
unchanged one is exported once per machine (MiniLM: a few seconds, ~90 MB fp32, ~59 MB with int8
encoder weights). An unwritable cache folder (a read-only home in a container) falls back to the
system's temporary folder, with a warning.
Files are written under a temporary name and renamed, so concurrent processes never read half a
file; the cache keeps the :data:`CACHE_KEEP` most recently used. A fresh export is compared
with PyTorch on a few prompts before it is used (:data:`EXPORT_TOLERANCE`); a mismatch is a
:class:`~routet2i.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from routet2i.config import ONNX_CACHE_ENV
from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor.backends import Backend

if TYPE_CHECKING:
    import torch

    from routet2i.encoders.hf import HFTextEncoder
    from routet2i.predictor.model import KeyTokenPredictor

log = logging.getLogger("routet2i.predictor")

#: Bump when the graph's inputs, outputs or computation change (part of the cache key).
EXPORT_VERSION = 1
#: ONNX opset of the export.
OPSET = 17
#: Largest |PRŜ_onnx − PRŜ_torch| accepted when a fresh fp32 export is checked.
EXPORT_TOLERANCE = 1e-4
#: Exports kept in a cache folder; older ones (least recently used) are deleted after an export.
CACHE_KEEP = 8
#: Prompts a fresh export is checked on (one batch; short and long, so shapes are not baked in).
CHECK_PROMPTS = (
    "fox",
    "a red cube on top of a blue sphere, next to three small green pyramids, studio lighting",
    "",
)


def cache_dir() -> Path:
    """``$ROUTET2I_ONNX_CACHE``, else ``$XDG_CACHE_HOME/routet2i/onnx`` (``~/.cache/…``)."""
    env = os.environ.get(ONNX_CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "routet2i" / "onnx"


def min_tokens(model: KeyTokenPredictor) -> int:
    """Fewest token positions the graph takes: the predictor's top-K is fixed at export, so
    shorter batches are right-padded to K (padding changes no result, docs/ROUTER.md)."""
    return model.config.top_k if model.config.token_selection else 1


def output_names(model: KeyTokenPredictor, with_embedding: bool) -> list[str]:
    """The graph's outputs, in order."""
    return ["prs", *(["d_hat"] if model.config.per_metric_heads else []), *(["embedding"] if with_embedding else [])]


def export_key(encoder: HFTextEncoder, model: KeyTokenPredictor, backend: Backend, with_embedding: bool) -> str:
    """sha256 (hex) of everything the exported file depends on (see the module docstring)."""
    import onnx
    import onnxruntime
    import torch

    h = hashlib.sha256()
    header = {
        "export": EXPORT_VERSION,
        "opset": OPSET,
        "backend": backend,
        "with_embedding": with_embedding,
        "encoder": encoder.spec,
        "architecture": model.config.to_dict(),
        "versions": [torch.__version__, onnx.__version__, onnxruntime.__version__],
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    tensors = [("encoder." + k, v) for k, v in encoder.model.state_dict().items()]
    tensors += [("predictor." + k, v) for k, v in model.state_dict().items()]
    tensors.append(("predictor.metric_weights", model.metric_weights))
    for name, value in tensors:
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def exported_router(
    encoder: HFTextEncoder,
    model: KeyTokenPredictor,
    backend: Backend,
    *,
    with_embedding: bool = False,
    directory: Path | None = None,
) -> Path:
    """The ONNX file for ``backend`` (``onnx`` or ``onnx-int8``): from the cache, else exported
    (and checked) now."""
    if encoder.device != "cpu":
        raise ConfigError(f"router backend {backend!r} exports from the CPU; the encoder is on {encoder.device!r}")
    folder = directory if directory is not None else cache_dir()
    key = export_key(encoder, model, backend, with_embedding)
    path = folder / f"router-{key[:32]}.onnx"
    if path.is_file():
        return _touched(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / "routet2i-onnx"
        log.warning("ONNX cache %s is not writable (%s); exporting to %s instead", folder, exc, fallback)
        fallback.mkdir(parents=True, exist_ok=True)
        folder, path = fallback, fallback / path.name
        if path.is_file():
            return _touched(path)
    log.info("exporting the router (%s, %s) to %s", encoder.spec, backend, path)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as tmp:
        fp32 = Path(tmp) / "router.onnx"
        export_graph(encoder, model, fp32, with_embedding=with_embedding)
        check_export(fp32, encoder, model, with_embedding=with_embedding)
        final = fp32
        if backend == "onnx-int8":
            final = Path(tmp) / "router-int8.onnx"
            quantise_encoder(fp32, final)
        os.replace(final, path)
    _evict(folder, keep=CACHE_KEEP)
    return path


def _touched(path: Path) -> Path:
    """``path`` with its modification time set to now (the cache evicts the least recently used)."""
    with suppress(OSError):  # a read-only cache still serves its files
        os.utime(path)
    return path


def _evict(folder: Path, *, keep: int) -> None:
    """Delete all but the ``keep`` most recently used exports in ``folder``."""
    files = sorted(folder.glob("router-*.onnx"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def router_module(encoder: HFTextEncoder, model: KeyTokenPredictor, with_embedding: bool) -> torch.nn.Module:
    """The module the export traces: token ids → the outputs of :func:`output_names`."""
    import torch

    from routet2i.predictor.runtime import decision_tensors

    class RouterGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # registered as submodules: the encoder's nodes are named /encoder/… in the graph
            self.encoder = encoder.model
            self.predictor = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *features: torch.Tensor) -> Any:
            states, _ = encoder.states_from_ids(input_ids, attention_mask)
            prs, d_hat, embedding = decision_tensors(
                self.predictor, states, attention_mask.bool(), features[0] if features else None, with_embedding
            )
            return tuple(t for t in (prs, d_hat, embedding) if t is not None)

    return RouterGraph().eval()


def export_graph(encoder: HFTextEncoder, model: KeyTokenPredictor, out: Path, *, with_embedding: bool) -> None:
    """Trace encoder + predictor into ``out`` (fp32, dynamic batch and length)."""
    import torch

    from routet2i.predictor.prompt_features import prompt_feature_tensor

    prompts = list(CHECK_PROMPTS[1:2]) * 2
    ids_t, mask_t = encoder.token_ids(prompts)
    ids, mask = pad_to(ids_t.numpy(), mask_t.numpy(), min_tokens(model), pad_id(encoder))
    args: list[torch.Tensor] = [torch.from_numpy(ids), torch.from_numpy(mask)]
    names = ["input_ids", "attention_mask"]
    cues = model.config.prompt_features
    if cues:
        args.append(prompt_feature_tensor(prompts, cues))
        names.append("features")
    outputs = output_names(model, with_embedding)
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
    }
    axes.update({name: {0: "batch"} for name in ["features", *outputs]})
    with warnings.catch_warnings(), torch.no_grad():
        # tracer and exporter warnings (shape constants, deprecations) are about code paths the
        # export check below covers
        warnings.simplefilter("ignore")
        torch.onnx.export(
            router_module(encoder, model, with_embedding),
            tuple(args),
            str(out),
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def pad_id(encoder: HFTextEncoder) -> int:
    """The tokenizer's padding id."""
    value = encoder.tokenizer.pad_token_id
    return int(value) if value is not None else 0


def pad_to(ids: np.ndarray, mask: np.ndarray, n: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token ids and mask (B, m) int64 to at least ``n`` positions (mask 0 there)."""
    missing = n - ids.shape[1]
    if missing <= 0:
        return ids, mask
    return (
        np.pad(ids, ((0, 0), (0, missing)), constant_values=pad),
        np.pad(mask, ((0, 0), (0, missing)), constant_values=0),
    )


def check_export(path: Path, encoder: HFTextEncoder, model: KeyTokenPredictor, *, with_embedding: bool) -> None:
    """PRŜ of :data:`CHECK_PROMPTS` from the file at ``path`` equal PyTorch's within
    :data:`EXPORT_TOLERANCE`, else a :class:`CheckpointError`."""
    from routet2i.predictor.onnx_runtime import OnnxRuntime
    from routet2i.predictor.runtime import TorchRuntime

    prompts = list(CHECK_PROMPTS)
    want = TorchRuntime(encoder, model, "cpu", with_embedding).run(prompts).prs
    got = OnnxRuntime(path, encoder, model, with_embedding=with_embedding, num_threads=1).run(prompts).prs
    err = float(np.max(np.abs(got - want)))
    if not err <= EXPORT_TOLERANCE:
        raise CheckpointError(
            f"the ONNX export of the router ({encoder.spec}) differs from PyTorch by {err:.3g} in PRŜ "
            f"(tolerance {EXPORT_TOLERANCE}); use router backend 'torch'"
        )


def quantise_encoder(src: Path, dst: Path) -> None:
    """``src`` with the encoder's MatMul weights int8 (per output channel; activations quantised
    per call): ONNX Runtime's dynamic quantiser. The predictor's nodes stay fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    nodes = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.startswith("/encoder/")]
    with _quiet_root_logger():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=nodes)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantiser logs hints and per-tensor notes to the root logger; drop them."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
