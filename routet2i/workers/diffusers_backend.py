"""The diffusers backend: any text-to-image pipeline loaded with ``from_pretrained``.

``model`` is a hub repo id (``stabilityai/sd-turbo``) or a local folder written by
``save_pretrained``; both go through the same call. Pipelines are not thread-safe, so one
dedicated thread owns the pipeline: loading, warm-up, every generation and PNG encoding run on
it, and the event loop only awaits.

Reproducibility: every image gets its own ``torch.Generator`` on the CPU seeded with its seed
(a list of generators, one per image), so a seed draws the same initial latents and the same
ancestral noise whether its image ran alone or in a batch, on any device. The float kernels are
not batch-invariant, so an image made inside a batch can differ from the one made alone by
rounding (at most one level of 255 on a handful of pixels); the same request with the same batch
composition is bit-identical.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from routet2i.errors import ConfigError
from routet2i.logs import adopt_library_loggers
from routet2i.workers.backend import GenerationJob, ImageBackend, ImageResult
from routet2i.workers.cpu_estimate import warn_if_cpu
from routet2i.workers.errors import WorkerError
from routet2i.workers.settings import WorkerSettings

#: transformers / diffusers initialise models on a process-wide meta device; two pipelines
#: loading at once in one process (``routet2i serve``) fail with "Cannot copy out of meta tensor".
#: Loads are rare and slow anyway, so they are serialised process-wide.
_LOAD_LOCK = threading.Lock()

log = logging.getLogger(__name__)

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` if available, else ``mps``, else ``cpu``; anything else as given."""
    import torch

    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str) -> Any:
    """``auto`` → float16 on CUDA, float32 elsewhere (CPU kernels are fp32)."""
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, _DTYPES[name])


class DiffusersBackend(ImageBackend):
    """A diffusers text-to-image pipeline on one device, owned by one thread."""

    kind = "diffusers"
    batchable = True
    max_concurrency = 1

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.options = settings.diffusers
        self.device = "unresolved"
        self.dtype_name: str = self.options.dtype
        self.pipeline: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routet2i-pipeline")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, warmup: GenerationJob | None) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._load)
        if warmup is not None:
            t0 = time.perf_counter()
            await loop.run_in_executor(self._executor, self._generate, [warmup])
            log.info("warm-up generation took %.2f s", time.perf_counter() - t0)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.pipeline = None

    def details(self) -> dict[str, Any]:
        return {
            "pipeline": type(self.pipeline).__name__ if self.pipeline is not None else None,
            "scheduler": type(self.pipeline.scheduler).__name__ if self.pipeline is not None else None,
            "device": self.device,
            "dtype": self.dtype_name,
            "cpu_offload": self.options.cpu_offload,
            "compile": self.options.compile,
        }

    # -- generation --------------------------------------------------------------------------

    async def generate(self, jobs: Sequence[GenerationJob]) -> list[list[ImageResult]]:
        if self.pipeline is None:
            raise WorkerError("the pipeline is not loaded")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._generate, list(jobs))

    # -- on the pipeline thread --------------------------------------------------------------

    def _load(self) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        adopt_library_loggers()

        opts = self.options
        if opts.cpu_threads is not None:
            torch.set_num_threads(opts.cpu_threads)
        self.device = resolve_device(opts.device)
        dtype = resolve_dtype(opts.dtype, self.device)
        self.dtype_name = str(dtype).removeprefix("torch.")
        loader = AutoPipelineForText2Image if opts.loader == "auto" else DiffusionPipeline
        kwargs: dict[str, Any] = {"dtype": dtype}
        if opts.variant is not None:
            kwargs["variant"] = opts.variant
        if opts.revision is not None:
            kwargs["revision"] = opts.revision
        t0 = time.perf_counter()
        log.info("loading %s (%s, %s) on %s", self.settings.model, loader.__name__, self.dtype_name, self.device)
        with _LOAD_LOCK:
            pipe = loader.from_pretrained(self.settings.model, **kwargs)  # type: ignore[no-untyped-call]  # diffusers: unannotated
        if opts.scheduler is not None:
            pipe.scheduler = _build_scheduler(opts.scheduler, pipe.scheduler.config, opts.scheduler_options)
        elif opts.scheduler_options:
            pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, **opts.scheduler_options)
        if opts.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe = pipe.to(self.device)
        warn_if_cpu(pipe, self.device, self.settings, torch.get_num_threads())
        if opts.compile:
            for attr in ("unet", "transformer"):
                module = getattr(pipe, attr, None)
                if module is not None:
                    setattr(pipe, attr, torch.compile(module, mode=opts.compile_mode))
        pipe.set_progress_bar_config(disable=True)
        self.pipeline = pipe
        log.info("loaded %s in %.1f s", type(pipe).__name__, time.perf_counter() - t0)

    def _generate(self, jobs: list[GenerationJob]) -> list[list[ImageResult]]:
        import torch

        first = jobs[0]
        if any(job.batch_key != first.batch_key for job in jobs):
            raise WorkerError("internal error: incompatible jobs in one batch")
        prompts = [job.prompt for job in jobs for _ in job.seeds]
        seeds = [seed for job in jobs for seed in job.seeds]
        negatives = None
        if first.negative_prompt is not None:
            negatives = [job.negative_prompt or "" for job in jobs for _ in job.seeds]
        # CPU generators: a seed means the same noise on every device.
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        with torch.inference_mode():
            out = self.pipeline(
                prompt=prompts,
                negative_prompt=negatives,
                width=first.width,
                height=first.height,
                num_inference_steps=first.steps,
                guidance_scale=first.guidance_scale,
                num_images_per_prompt=1,
                generator=generators,
                output_type="pil",
            )
        images = list(out.images)
        if len(images) != len(seeds):
            raise WorkerError(f"the pipeline returned {len(images)} images for {len(seeds)} requested")
        results: list[list[ImageResult]] = []
        k = 0
        for job in jobs:
            row = []
            for seed in job.seeds:
                row.append(ImageResult(png=encode_png(images[k]), seed=seed))
                k += 1
            results.append(row)
        return results


def encode_png(image: Any) -> bytes:
    """A PIL image as PNG bytes (deterministic for equal pixels)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _build_scheduler(name: str, config: Any, options: dict[str, Any]) -> Any:
    import diffusers

    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise ConfigError(f"field 'diffusers.scheduler' = {name!r}: not a diffusers scheduler class")
    return cls.from_config(config, **options)
