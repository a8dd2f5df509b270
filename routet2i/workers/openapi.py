"""The worker's OpenAPI document states the limits of its config (``limits``), which
:mod:`routet2i.workers.params` enforces: prompt length, each side's range and multiple, steps,
guidance, n. ``max_pixels`` (width x height) is one rule a JSON schema cannot state; it is in
the description of ``width`` when the per-side maxima exceed it.
"""

from __future__ import annotations

from fastapi import FastAPI

from routet2i.api_docs import Constraints, install_constrained_openapi
from routet2i.workers.settings import GenerationLimits


def request_constraints(limits: GenerationLimits) -> Constraints:
    """``POST /v1/generate``'s body limits as JSON-schema keywords."""
    side = {"minimum": limits.min_size, "multipleOf": limits.size_multiple}
    width: dict[str, object] = {**side, "maximum": limits.max_width}
    if limits.max_width * limits.max_height > limits.max_pixels:
        width["description"] = f"Pixels; width x height at most {limits.max_pixels}."
    return {
        "GenerateRequest": {
            "prompt": {"maxLength": limits.max_prompt_chars},
            "negative_prompt": {"maxLength": limits.max_prompt_chars},
            "width": width,
            "height": {**side, "maximum": limits.max_height},
            "steps": {"minimum": limits.min_steps, "maximum": limits.max_steps},
            "guidance_scale": {"minimum": limits.min_guidance_scale, "maximum": limits.max_guidance_scale},
            "n": {"maximum": limits.max_n},
        }
    }


def install_openapi(app: FastAPI, limits: GenerationLimits) -> None:
    """Make the worker app's OpenAPI document state ``limits``."""
    install_constrained_openapi(app, request_constraints(limits))
