"""Predictor tests run torch single-threaded (restored afterwards).

The models here are tiny: extra intra-op threads only add synchronisation, and on a busy 2-core
machine they make each forward pass tens of times slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="package")
def _single_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
