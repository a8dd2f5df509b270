"""How the router's encoder and predictor are run: the ``backend`` setting (names only, no imports).

=============  ==============================================================================
``torch``      PyTorch fp32, eager (any encoder, any device): the reference.
``int8``       PyTorch with the encoder's Linear layers int8 dynamic-quantised
               (:mod:`routet2i.encoders.quantised`); predictor fp32. CPU only.
``onnx``       encoder + predictor exported once to one ONNX graph and run by ONNX Runtime,
               fp32 (:mod:`routet2i.predictor.onnx_export`): the same numbers as ``torch`` up to
               float rounding. CPU; ``minilm`` and ``hf:`` encoders.
``onnx-int8``  the same graph with the encoder's matrix products int8 dynamic-quantised by ONNX
               Runtime's quantiser.
=============  ==============================================================================

The default, :data:`DEFAULT_BACKEND`, is chosen by the measurements of ``routet2i bench router``
in docs/PERFORMANCE.md (latency at concurrency 1, batched throughput, and agreement with
``torch`` on PartiPrompts).
"""

from __future__ import annotations

from typing import Literal, get_args

Backend = Literal["torch", "int8", "onnx", "onnx-int8"]

#: Every backend name, the reference first.
BACKENDS: tuple[Backend, ...] = get_args(Backend)

#: What the gateway's router runs on unless told otherwise. ``onnx``: on the shipped router and
#: PartiPrompts it gives the same tiers as ``torch`` at every budget (|ΔPRŜ| ≤ 1.2e-7) at 0.46×
#: torch's single-prompt latency on one core; the int8 backends are faster still but change
#: 0.6–4.5 % of the decisions at budgets 0.1–0.5 (docs/PERFORMANCE.md §1).
DEFAULT_BACKEND: Backend = "onnx"

#: Backends that run on the CPU only (a device of ``auto`` resolves to ``cpu`` for them).
CPU_ONLY_BACKENDS: frozenset[Backend] = frozenset({"int8", "onnx", "onnx-int8"})


def parse_backend(name: str) -> Backend:
    """``name`` as a :data:`Backend`; anything else is a ``ValueError`` listing the names."""
    for backend in BACKENDS:
        if name == backend:
            return backend
    raise ValueError(f"unknown router backend {name!r}; choose one of {', '.join(BACKENDS)}")
