"""Fixtures of the reliability tests: the bench's stack (gateway, edge worker, cloud worker behind
the fault worker, as processes on 127.0.0.1) over the tiny models of ``tests/gateway``, started
once for the session; and the gateway's in-process fixtures, reused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from routet2i.bench.stack import Stack
from routet2i.testing.demo import tiny_worker_config
from tests.gateway.conftest import make_gateway, tiny_sd_dir

__all__ = ["make_gateway", "tiny_sd_dir"]  # fixtures of tests/gateway, reused here

#: Deadlines of the CI stack: short enough for the fault scenarios (the cloud times out after 3 s;
#: the fault worker's slow mode answers after 4 s), long enough for 50 clients on a busy 2-core box.
CI_GATEWAY = {
    "limits": {"request_timeout_s": 15},
    "tiers": {"edge": {"timeout_s": 10}, "cloud": {"timeout_s": 3}},
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_router_dir: Path, tiny_sd_dir: Path) -> Iterator[Stack]:
    with Stack(
        tmp_path_factory.mktemp("reliability"),
        edge_worker=tiny_worker_config(tiny_sd_dir, "tiny-edge", "edge", max_pending=128),
        cloud_worker=tiny_worker_config(tiny_sd_dir, "tiny-cloud", "cloud", max_pending=128),
        checkpoint=tiny_router_dir,
        gateway=CI_GATEWAY,
    ) as s:
        yield s
