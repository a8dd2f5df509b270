"""The image-backend interface every worker backend implements, and the factory that picks one.

A backend turns a batch of resolved jobs into PNG images. The worker's scheduler calls
:meth:`ImageBackend.generate` with one job or, when ``batchable``, several compatible jobs
(same :attr:`GenerationJob.batch_key`) at once; the backend must give every image the result its
own seed gives, however the batch was composed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: Every request field a backend may honour.
ALL_FIELDS: tuple[str, ...] = ("prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "seed", "n")


@dataclass(frozen=True)
class GenerationJob:
    """One request with its defaults filled in and limits checked; one seed per image.

    ``explicit`` names the fields the caller set (a backend may refuse fields it cannot honour).
    """

    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    steps: int
    guidance_scale: float
    seeds: tuple[int, ...]
    explicit: frozenset[str] = field(default_factory=frozenset)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def batch_key(self) -> tuple[int, int, int, float, bool]:
        """Jobs with equal keys can share one pipeline call."""
        return (self.width, self.height, self.steps, self.guidance_scale, self.negative_prompt is not None)


@dataclass(frozen=True)
class ImageResult:
    """One generated image: PNG bytes and the seed that made it (None: the backend has no seeds)."""

    png: bytes
    seed: int | None


class ImageBackend(ABC):
    """A text-to-image backend. Methods are coroutines; a backend that runs blocking code (a
    diffusers pipeline) owns the thread it runs on, so the event loop never blocks."""

    #: Short name of the implementation (``diffusers``, ``openai``).
    kind: ClassVar[str]
    #: Whether several jobs may run in one :meth:`generate` call.
    batchable: bool = False
    #: How many :meth:`generate` calls may be in flight at once.
    max_concurrency: int = 1
    #: The request fields this backend honours (others are refused when set explicitly).
    supported_fields: tuple[str, ...] = ALL_FIELDS

    @abstractmethod
    async def start(self, warmup: GenerationJob | None) -> None:
        """Load the model, then run ``warmup`` (if given) once. Ready when this returns."""

    @abstractmethod
    async def generate(self, jobs: Sequence[GenerationJob]) -> list[list[ImageResult]]:
        """Images for every job, in order: ``result[j][i]`` is image ``i`` of ``jobs[j]``."""

    def validate(self, job: GenerationJob) -> None:  # noqa: B027 - optional hook
        """Refuse (WorkerBadRequest naming the field) a job this backend cannot make, before it
        is queued. The settings' limits are already checked."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model and threads."""

    def details(self) -> dict[str, Any]:
        """Facts for ``/v1/info`` (device, dtype, pipeline class...)."""
        return {}
