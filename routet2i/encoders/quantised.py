"""int8 dynamic quantisation of a transformers text encoder (the router's ``int8`` backend).

:func:`int8_copy` gives a copy of an :class:`~routet2i.encoders.hf.HFTextEncoder` whose
``nn.Linear`` layers run as int8 matrix products (``torch.ao.quantization.quantize_dynamic``:
weights quantised once, one scale per tensor; activations quantised on every call from their own
range). Same tokenizer, spec, width and truncation; the states are an approximation of the fp32
ones (how close, for the shipped router, is in docs/PERFORMANCE.md). CPU only: PyTorch has no
dynamic-quantised kernels on CUDA.

Because each call quantises its activations with the batch's own range, a prompt's states depend
slightly on its batch companions (unlike fp32, where batch = one-by-one up to rounding).
"""

from __future__ import annotations

import copy
import warnings

from routet2i.encoders.hf import HFTextEncoder
from routet2i.errors import ConfigError


def int8_copy(encoder: HFTextEncoder) -> HFTextEncoder:
    """A copy of ``encoder`` with int8 dynamic-quantised Linear layers (the original is untouched).
    A model not on the CPU is a :class:`ConfigError`."""
    import torch

    if encoder.device != "cpu":
        raise ConfigError(f"router backend 'int8' runs on the CPU only, not on {encoder.device!r}")
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao (not a dependency); it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(encoder.model), {torch.nn.Linear}, dtype=torch.qint8
        )
    quantised = copy.copy(encoder)
    quantised.model = model
    return quantised
