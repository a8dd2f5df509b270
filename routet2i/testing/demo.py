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
#: Pixel size of a demo image (both tiers).
DEMO_SIZE = 64


def tiny_worker_config(model: Path, name: str, tier: str, *, max_pending: int = 64) -> dict[str, Any]:
    """A worker config serving a tiny pipeline folder on the CPU at 64 px, 2 steps."""
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
        "server": {"host": "127.0.0.1", "graceful_shutdown_s": 2},
    }


@dataclass(frozen=True)
class DemoWorkers:
    """The demo's two worker config files (``edge.yaml``, ``cloud.yaml``) and their model names."""

    edge: Path
    cloud: Path
    edge_model: str = "demo-noise-sd"
    cloud_model: str = "demo-noise-sdxl"


def build_demo_workers(root: Path) -> DemoWorkers:
    """Build both tiny pipelines under ``root`` (seeded) and write a worker config for each."""
    from routet2i.testing.pipelines import save_tiny_pipeline

    root.mkdir(parents=True, exist_ok=True)
    names = DemoWorkers(root / "edge.yaml", root / "cloud.yaml")
    for kind, tier, model, path in (
        ("sd", "edge", names.edge_model, names.edge),
        ("sdxl", "cloud", names.cloud_model, names.cloud),
    ):
        folder = Path(save_tiny_pipeline(kind, root / f"tiny-{kind}"))
        path.write_text(yaml.safe_dump(tiny_worker_config(folder, model, tier), sort_keys=False), encoding="utf-8")
    return names


def demo_gateway(settings: Any, workers: DemoWorkers) -> Any:
    """``settings`` (the gateway's) made to fit the demo workers: their model names, 64 px."""
    for tier, model in (("edge", workers.edge_model), ("cloud", workers.cloud_model)):
        options = settings.tiers.get(tier)
        options.model = model
        options.default_width = options.default_height = DEMO_SIZE
    settings.limits.max_size = min(settings.limits.max_size, 128)
    settings.limits.min_size = min(settings.limits.min_size, DEMO_SIZE)
    return settings
