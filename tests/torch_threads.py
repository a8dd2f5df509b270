"""Run tiny-model tests with one torch intra-op thread (restored afterwards).

The models in these tests are tiny: extra threads only add synchronisation, and on a busy 2-core
machine they make each forward pass tens of times slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
