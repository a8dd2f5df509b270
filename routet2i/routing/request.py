"""A generation request as the routing core takes it: validated already (by the HTTP layer)."""

from __future__ import annotations

from dataclasses import dataclass

from routet2i.workers.schemas import GenerateRequest


@dataclass(frozen=True)
class GenerationParams:
    """A validated generation request. ``width`` / ``height`` stay ``None`` where the request gave
    none: the chosen tier's default size applies (:meth:`size`), filled in once the tier is known.
    Steps and guidance stay ``None`` where the worker's own default applies."""

    prompt: str
    negative_prompt: str | None
    width: int | None
    height: int | None
    steps: int | None
    guidance_scale: float | None
    seed: int | None
    n: int

    def size(self, default: tuple[int, int]) -> tuple[int, int]:
        """(width, height) to send: the request's, each side the ``default`` (the tier's) where
        it gave none."""
        return (
            default[0] if self.width is None else self.width,
            default[1] if self.height is None else self.height,
        )

    def for_worker(self, size: tuple[int, int]) -> GenerateRequest:
        """The worker's request for these parameters at ``size`` (width, height)."""
        return GenerateRequest(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=size[0],
            height=size[1],
            steps=self.steps,
            guidance_scale=self.guidance_scale,
            seed=self.seed,
            n=self.n,
        )
