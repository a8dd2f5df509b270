"""The demo stack of ``routet2i serve --demo``: tiny real-architecture pipelines built in code
(random weights: the images are noise), served by real workers behind the real gateway.

An edge worker on a tiny SD pipeline (SD-Turbo's architecture) and a cloud worker on a tiny SDXL
pipeline, both on the CPU at 64 px in 2 steps, so the whole stack starts in seconds on any machine,
offline. Their model names say ``demo`` (they show in every answer's ``routing.model`` and in
``/v1/models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: What a demo image is, in the banner and the docs.
DEMO_NOTICE = (
    "DEMO: the edge and cloud tiers are tiny random-weight pipelines built in code, so every image is noise; "
    "the router, budget, API and metrics are the real ones. For real models run `routet2i serve` (see the README)"
)
#: The banner of ``routet2i worker --demo edge|cloud``.
DEMO_WORKER_NOTICE = (
    "DEMO: this worker serves a tiny random-weight pipeline built in code, so every image is noise; "
    "its API, queue, batching and metrics are the real ones"
)
#: Pixel size of a demo image (both tiers).
DEMO_SIZE = 64


def tiny_worker_config(
    model: Path, name: str, tier: str, *, max_pending: int = 64, port: int | None = None
) -> dict[str, Any]:
    """A worker config serving a tiny pipeline folder on the CPU at 64 px, 2 steps (``port``:
    ``server.port``, else the worker's default)."""
    return {
        "backend": "diffusers",
        "model": str(model),
        "name": name,
        "tier": tier,
        "warmup": False,
        "diffusers": {"device": "cpu", "dtype": "float32", "cpu_threads": 1},
        "defaults": {"width": DEMO_SIZE, "height": DEMO_SIZE, "steps": 2, "guidance_scale": 0.0},
        "limits": {"min_size": 32, "max_width": 128, "max_height": 128, "max_pixels": 16384, "max_steps": 4},
        "batching": {"enabled": True, "max_batch_images": 8, "max_wait_ms": 5},
        "queue": {"max_pending": max_pending, "default_timeout_s": 120},
        "server": {"host": "127.0.0.1", "graceful_shutdown_s": 2, **({} if port is None else {"port": port})},
    }


@dataclass(frozen=True)
class DemoWorkers:
    """The demo's two worker config files (``edge.yaml``, ``cloud.yaml``) and their model names."""

    edge: Path
    cloud: Path
    edge_model: str = "demo-noise-sd"
    cloud_model: str = "demo-noise-sdxl"


#: Per demo tier: the tiny pipeline's kind, its model name and the port of ``routet2i worker --demo``
#: (the shipped worker configs' ports: 8001 edge, 8002 cloud).
DEMO_TIERS: dict[str, tuple[str, str, int]] = {
    "edge": ("sd", DemoWorkers.edge_model, 8001),
    "cloud": ("sdxl", DemoWorkers.cloud_model, 8002),
}


def build_demo_worker(root: Path, tier: str) -> Path:
    """Build ``tier``'s tiny pipeline under ``root`` (seeded) and write its worker config
    (``root/<tier>.yaml``, returned): ``routet2i worker --demo <tier>``."""
    from routet2i.testing.pipelines import save_tiny_pipeline

    kind, model, port = DEMO_TIERS[tier]
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(save_tiny_pipeline(kind, root / f"tiny-{kind}"))
    path = root / f"{tier}.yaml"
    config = tiny_worker_config(folder, model, tier, port=port)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def build_demo_workers(root: Path) -> DemoWorkers:
    """Build both tiny pipelines under ``root`` (seeded) and write a worker config for each."""
    return DemoWorkers(build_demo_worker(root, "edge"), build_demo_worker(root, "cloud"))


def demo_gateway(settings: Any, workers: DemoWorkers) -> Any:
    """``settings`` (the gateway's) made to fit the demo workers: their model names, 64 px."""
    for tier, model in (("edge", workers.edge_model), ("cloud", workers.cloud_model)):
        options = settings.tiers.get(tier)
        options.model = model
        options.default_width = options.default_height = DEMO_SIZE
    settings.limits.max_size = min(settings.limits.max_size, 128)
    settings.limits.min_size = min(settings.limits.min_size, DEMO_SIZE)
    return settings
