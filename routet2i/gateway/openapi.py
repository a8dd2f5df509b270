"""The gateway's OpenAPI document, stating every limit the server enforces, so a client generated
from it sends nothing that is refused (and a fuzzer finds no request the schema allows but the
server refuses, nor the reverse).

The body models (:mod:`routet2i.gateway.schemas`) state the static rules; the limits that come
from the config (``limits``: prompt length, sizes and their multiple, steps, guidance, n, batch
size; the tiers' names for ``route`` and ``model``) are checked by
:mod:`routet2i.gateway.validation` and written into the document here, from the same settings.
:func:`routet2i.api_docs.install_constrained_openapi` writes them in.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from routet2i.api_docs import Constraints, install_constrained_openapi
from routet2i.gateway.settings import GatewaySettings, LimitOptions
from routet2i.types import AUTO

#: A prompt must have a character that is not white space (``check_prompt`` strips it).
NOT_BLANK = r"\S"
#: Above this many allowed values per side, ``size`` is stated by its shape only.
_MAX_SIZE_CHOICES = 512


def prompt_schema(limits: LimitOptions) -> dict[str, Any]:
    """The JSON-schema keywords of a prompt: not blank, at most ``max_prompt_chars`` characters."""
    return {"minLength": 1, "maxLength": limits.max_prompt_chars, "pattern": NOT_BLANK}


def size_values(limits: LimitOptions) -> list[int]:
    """Every allowed width (and height): multiples of ``size_multiple`` in [min_size, max_size]."""
    first = -(-limits.min_size // limits.size_multiple) * limits.size_multiple
    return list(range(first, limits.max_size + 1, limits.size_multiple))


def openai_size_pattern(limits: LimitOptions) -> str:
    """The pattern of OpenAI's ``size``: ``auto`` or ``WxH`` with both sides allowed."""
    values = size_values(limits)
    side = "|".join(map(str, values)) if len(values) <= _MAX_SIZE_CHOICES else r"\d{1,5}"
    return rf"^(?:auto|(?:{side})x(?:{side}))$"


def request_constraints(settings: GatewaySettings) -> Constraints:
    """Per request-body schema and property, the keywords that state the configured limits."""
    limits = settings.limits
    tiers = list(settings.tiers.names)
    models = [settings.tiers.get(t).model for t in tiers]
    prompt = prompt_schema(limits)
    size = {"minimum": limits.min_size, "maximum": limits.max_size, "multipleOf": limits.size_multiple}
    generation = {
        "prompt": prompt,
        "negative_prompt": {"maxLength": limits.max_prompt_chars},
        "steps": {"maximum": limits.max_steps},
        "guidance_scale": {"maximum": limits.max_guidance_scale},
        "n": {"maximum": limits.max_n},
    }
    return {
        "GenerateBody": {**generation, "width": size, "height": size, "route": {"enum": [AUTO, *tiers]}},
        "OpenAIImageRequest": {
            **generation,
            "size": {"pattern": openai_size_pattern(limits)},
            "model": {"enum": [AUTO, *tiers, *models]},
        },
        "RouteBody": {"prompt": prompt, "prompts": {"maxItems": limits.max_route_batch, "items": prompt}},
    }


def install_openapi(app: FastAPI, settings: GatewaySettings) -> None:
    """Make ``app``'s OpenAPI document state ``settings``' limits."""
    install_constrained_openapi(app, request_constraints(settings))
