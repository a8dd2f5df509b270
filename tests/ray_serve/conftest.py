"""A local Ray cluster with Serve for the Ray tests: 2 CPUs, no dashboard, started once per test
module (module-scoped fixtures in each module use :func:`local_serve`) and always shut down.

Ray's worker processes inherit this process's environment (conftest's ``HF_HUB_OFFLINE=1`` and
the ONNX cache folder), and import ``routet2i`` from the virtual environment; nothing pickled
for them may live in ``tests`` (they do not have the checkout on their path).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from routet2i.testing.demo import tiny_worker_config

# Ray Serve 2.60's schemas use a pydantic-1 style Field keyword (``update_type``) at import; the
# suite turns warnings into errors, so ray.serve is imported here once, with that one warning off.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using extra keyword arguments on `Field`", category=DeprecationWarning)
    import ray.serve  # noqa: F401

#: CPUs of the test cluster: the CI machine's two cores, shared by every replica (fractions).
CLUSTER_CPUS = 2


@contextmanager
def local_serve(*, http_port: int | None = None, env: dict[str, str] | None = None) -> Iterator[None]:
    """A local Ray cluster with Serve started (its HTTP proxy on ``http_port``, or none); ``env``:
    variables set for the cluster's processes (and this one) while it runs."""
    import ray
    from ray import serve

    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    ray.init(num_cpus=CLUSTER_CPUS, include_dashboard=False, log_to_driver=False, namespace="serve")
    try:
        if http_port is None:
            serve.start(proxy_location="Disabled")
        else:
            serve.start(http_options={"host": "127.0.0.1", "port": http_port})
        yield
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def tiny_tier_settings(model: Path, name: str, tier: str, **blocks: dict[str, Any]) -> dict[str, Any]:
    """The demo's tiny worker config (64 px, 2 steps, CPU, one thread) with ``blocks`` merged in."""
    config = tiny_worker_config(model, name, tier)
    for key, value in blocks.items():
        config[key] = {**config.get(key, {}), **value}
    return config


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
