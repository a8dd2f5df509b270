"""The ``onnx`` and ``onnx-int8`` backends: the exported router graph run by ONNX Runtime (CPU).

Per call: the encoder's own tokenizer (truncation and padding to the batch's longest prompt,
then to the predictor's K at least, :func:`~routet2i.predictor.onnx_export.min_tokens`), the
prompt-feature cues in NumPy, one ``InferenceSession.run``. The session runs sequentially with
``num_threads`` intra-op threads (the router's thread setting; one is fastest at concurrency 1
on a shared CPU, docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from routet2i.predictor.runtime import Scores

if TYPE_CHECKING:
    from routet2i.encoders.hf import HFTextEncoder
    from routet2i.predictor.model import KeyTokenPredictor


class OnnxRuntime:
    """Runs the graph at ``path`` (exported by :mod:`routet2i.predictor.onnx_export` from this
    ``encoder`` and ``model``)."""

    def __init__(
        self,
        path: Path,
        encoder: HFTextEncoder,
        model: KeyTokenPredictor,
        *,
        with_embedding: bool,
        num_threads: int,
    ) -> None:
        import onnxruntime as ort

        from routet2i.predictor.onnx_export import min_tokens, output_names, pad_id

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: the optimiser's notes are not ours to show
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path
        self.encoder = encoder
        self.cues = list(model.config.prompt_features)
        self.outputs = output_names(model, with_embedding)
        self.min_tokens = min_tokens(model)
        self.pad_id = pad_id(encoder)

    def run(self, prompts: Sequence[str]) -> Scores:
        from routet2i.predictor.onnx_export import pad_to
        from routet2i.predictor.prompt_features import prompt_feature_array

        ids_t, mask_t = self.encoder.token_ids(prompts)
        ids, mask = pad_to(ids_t.numpy(), mask_t.numpy(), self.min_tokens, self.pad_id)
        feeds: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
        if self.cues:
            feeds["features"] = prompt_feature_array(prompts, self.cues)
        values = dict(zip(self.outputs, self.session.run(self.outputs, feeds), strict=True))

        def get(name: str) -> np.ndarray | None:
            v = values.get(name)
            return None if v is None else np.asarray(v, dtype=np.float64)

        prs = get("prs")
        assert prs is not None
        return Scores(prs=prs, d_hat=get("d_hat"), embedding=get("embedding"))
