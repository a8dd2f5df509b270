"""Turn a validated :class:`GenerateRequest` into a :class:`GenerationJob`: fill the worker's
defaults, check its limits, and assign one seed per image. Every failure names the field."""

from __future__ import annotations

import secrets

from routet2i.workers.backend import GenerationJob
from routet2i.workers.errors import WorkerBadRequest
from routet2i.workers.schemas import SEED_MODULUS, GenerateRequest
from routet2i.workers.settings import GenerationDefaults, GenerationLimits


def image_seeds(first: int, n: int) -> tuple[int, ...]:
    """Seeds of a request's ``n`` images: ``(first + i) mod 2**32``."""
    return tuple((first + i) % SEED_MODULUS for i in range(n))


def resolve_request(
    request: GenerateRequest,
    defaults: GenerationDefaults,
    limits: GenerationLimits,
    supported_fields: tuple[str, ...] | None = None,
) -> GenerationJob:
    """The job ``request`` asks for, or :class:`WorkerBadRequest` naming the first bad field.

    ``supported_fields``: when given, explicitly set fields outside it are refused (a hosted API
    that has no seed, say, must not silently ignore one).
    """
    explicit = frozenset(request.model_fields_set)
    if supported_fields is not None:
        for name in sorted(explicit - set(supported_fields)):
            if getattr(request, name) is not None:
                raise WorkerBadRequest(f"this worker's backend does not support {name!r}", field=name)

    if len(request.prompt) > limits.max_prompt_chars:
        raise WorkerBadRequest(
            f"prompt is {len(request.prompt)} characters; the limit is {limits.max_prompt_chars}", field="prompt"
        )
    negative = request.negative_prompt if request.negative_prompt is not None else defaults.negative_prompt
    if negative is not None and len(negative) > limits.max_prompt_chars:
        raise WorkerBadRequest(
            f"negative_prompt is {len(negative)} characters; the limit is {limits.max_prompt_chars}",
            field="negative_prompt",
        )

    width = request.width if request.width is not None else defaults.width
    height = request.height if request.height is not None else defaults.height
    for name, value, top in (("width", width, limits.max_width), ("height", height, limits.max_height)):
        if value % limits.size_multiple:
            raise WorkerBadRequest(f"{name}={value} must be a multiple of {limits.size_multiple}", field=name)
        if value < limits.min_size:
            raise WorkerBadRequest(f"{name}={value} is below the minimum {limits.min_size}", field=name)
        if value > top:
            raise WorkerBadRequest(f"{name}={value} is above the maximum {top}", field=name)
    if width * height > limits.max_pixels:
        raise WorkerBadRequest(
            f"{width}x{height} = {width * height} pixels is above the maximum {limits.max_pixels}", field="width"
        )

    steps = request.steps if request.steps is not None else defaults.steps
    if not limits.min_steps <= steps <= limits.max_steps:
        raise WorkerBadRequest(
            f"steps={steps} outside [{limits.min_steps}, {limits.max_steps}] for this model", field="steps"
        )
    guidance = request.guidance_scale if request.guidance_scale is not None else defaults.guidance_scale
    if not limits.min_guidance_scale <= guidance <= limits.max_guidance_scale:
        raise WorkerBadRequest(
            f"guidance_scale={guidance} outside [{limits.min_guidance_scale}, {limits.max_guidance_scale}] "
            "for this model",
            field="guidance_scale",
        )
    if request.n > limits.max_n:
        raise WorkerBadRequest(f"n={request.n} is above the maximum {limits.max_n}", field="n")

    first = request.seed if request.seed is not None else secrets.randbelow(SEED_MODULUS)
    return GenerationJob(
        prompt=request.prompt,
        negative_prompt=negative,
        width=width,
        height=height,
        steps=steps,
        guidance_scale=float(guidance),
        seeds=image_seeds(first, request.n),
        explicit=explicit,
    )
