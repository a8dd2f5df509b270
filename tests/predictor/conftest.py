"""Predictor tests run torch single-threaded (restored afterwards).

The models here are tiny: extra intra-op threads only add synchronisation, and on a busy 2-core
machine they make each forward pass tens of times slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.torch_threads import one_torch_thread


@pytest.fixture(autouse=True, scope="package")
def _single_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield
