"""The worker's backend factory: the :class:`~routet2i.workers.backend.ImageBackend` a worker's
settings name (kept out of ``backend.py``, which the implementations import)."""

from __future__ import annotations

from routet2i.workers.backend import ImageBackend
from routet2i.workers.settings import WorkerSettings


def build_backend(settings: WorkerSettings) -> ImageBackend:
    """The backend ``settings.backend`` names. Cheap: nothing is loaded until ``start``."""
    if settings.backend == "diffusers":
        from routet2i.workers.diffusers_backend import DiffusersBackend

        return DiffusersBackend(settings)
    from routet2i.workers.openai_images import OpenAIImagesBackend

    return OpenAIImagesBackend(settings)
