"""A test double backend for unit tests of the scheduler and the app (never a product default):
it records every call, makes a tiny PNG per image, and can be held at gates to fill the queue."""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult


def tiny_png(prompt: str, seed: int | None) -> bytes:
    digest = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    pixels = np.frombuffer(digest[:12], dtype=np.uint8).reshape(2, 2, 3)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


class RecordingBackend(ImageBackend):
    """Generates instantly unless ``gate`` is cleared; ``load_gate`` holds ``start``."""

    kind = "fake"

    def __init__(
        self,
        *,
        batchable: bool = True,
        max_concurrency: int = 1,
        fail_load: Exception | None = None,
        fail_generate: Exception | None = None,
    ) -> None:
        self.batchable = batchable
        self.max_concurrency = max_concurrency
        self.fail_load = fail_load
        self.fail_generate = fail_generate
        self.gate = threading.Event()
        self.gate.set()
        self.load_gate = threading.Event()
        self.load_gate.set()
        self.calls: list[list[GenerationJob]] = []
        self.closed = False

    @property
    def prompts(self) -> list[str]:
        return [job.prompt for call in self.calls for job in call]

    async def start(self, warmup: GenerationJob | None) -> None:
        await asyncio.to_thread(self.load_gate.wait)
        if self.fail_load is not None:
            raise self.fail_load

    async def generate(self, jobs: Sequence[GenerationJob]) -> list[list[ImageResult]]:
        self.calls.append(list(jobs))
        await asyncio.to_thread(self.gate.wait)
        if self.fail_generate is not None:
            raise self.fail_generate
        return [[ImageResult(png=tiny_png(job.prompt, seed), seed=seed) for seed in job.seeds] for job in jobs]

    async def close(self) -> None:
        self.closed = True
