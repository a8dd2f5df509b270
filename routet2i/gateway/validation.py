"""Checks of a generation request against the configured limits; each failure names its field."""

from __future__ import annotations

from routet2i.gateway.errors import InvalidField
from routet2i.gateway.settings import LimitOptions
from routet2i.routing.request import GenerationParams


def check_prompt(prompt: str, limits: LimitOptions, field: str = "prompt") -> None:
    if not prompt.strip():
        raise InvalidField(f"{field} must not be empty", field=field)
    if len(prompt) > limits.max_prompt_chars:
        raise InvalidField(f"{field} has {len(prompt)} characters; the limit is {limits.max_prompt_chars}", field=field)


def check_generation(
    limits: LimitOptions,
    *,
    prompt: str,
    negative_prompt: str | None,
    width: int | None,
    height: int | None,
    steps: int | None,
    guidance_scale: float | None,
    seed: int | None,
    n: int,
    size_field: str | None = None,
) -> GenerationParams:
    """Validate the request. A size left out stays ``None`` (the chosen tier's default applies
    later); a given one must fit the limits. ``size_field`` names the field to blame for a bad
    size (``size`` in the OpenAI API) instead of ``width`` / ``height``."""
    check_prompt(prompt, limits)
    if negative_prompt is not None and len(negative_prompt) > limits.max_prompt_chars:
        raise InvalidField(
            f"negative_prompt has {len(negative_prompt)} characters; the limit is {limits.max_prompt_chars}",
            field="negative_prompt",
        )
    for name, value in (("width", width), ("height", height)):
        problem = None if value is None else limits.size_problem(name, value)
        if problem:
            raise InvalidField(problem, field=size_field or name)
    if steps is not None and not 1 <= steps <= limits.max_steps:
        raise InvalidField(f"steps {steps} must be in [1, {limits.max_steps}]", field="steps")
    if guidance_scale is not None and not 0 <= guidance_scale <= limits.max_guidance_scale:
        raise InvalidField(
            f"guidance_scale {guidance_scale} must be in [0, {limits.max_guidance_scale}]", field="guidance_scale"
        )
    if not 1 <= n <= limits.max_n:
        raise InvalidField(f"n {n} must be in [1, {limits.max_n}]", field="n")
    return GenerationParams(prompt, negative_prompt, width, height, steps, guidance_scale, seed, n)
