"""Request resolution: defaults, limits naming the field, one seed per image."""

from __future__ import annotations

import pytest

from routet2i.workers.errors import WorkerBadRequest
from routet2i.workers.params import image_seeds, resolve_request
from routet2i.workers.schemas import GenerateRequest
from routet2i.workers.settings import GenerationDefaults, GenerationLimits

DEFAULTS = GenerationDefaults(width=512, height=512, steps=1, guidance_scale=0.0, negative_prompt=None)
LIMITS = GenerationLimits(max_width=768, max_height=768, max_pixels=768 * 512, max_steps=4, max_n=4)


def test_defaults_fill_the_gaps_and_seeds_are_consecutive() -> None:
    job = resolve_request(GenerateRequest(prompt="a cat", seed=10, n=3), DEFAULTS, LIMITS)
    assert (job.width, job.height, job.steps, job.guidance_scale) == (512, 512, 1, 0.0)
    assert job.seeds == (10, 11, 12) and job.explicit == {"prompt", "seed", "n"}


def test_random_seed_when_left_out() -> None:
    seeds = {resolve_request(GenerateRequest(prompt="a cat"), DEFAULTS, LIMITS).seeds[0] for _ in range(5)}
    assert len(seeds) > 1 and all(0 <= s < 2**32 for s in seeds)


def test_seeds_wrap_at_2_32() -> None:
    assert image_seeds(2**32 - 1, 3) == (2**32 - 1, 0, 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"width": 516}, "width"),
        ({"width": 1024}, "width"),
        ({"width": 768, "height": 768}, "width"),  # over max_pixels
        ({"steps": 5}, "steps"),
        ({"guidance_scale": 21.0}, "guidance_scale"),
        ({"n": 5}, "n"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"negative_prompt": "x" * 2001}, "negative_prompt"),
    ],
)
def test_limits_name_the_field(fields: dict[str, object], field: str) -> None:
    request = GenerateRequest.model_validate({"prompt": "a cat", **fields})
    with pytest.raises(WorkerBadRequest) as caught:
        resolve_request(request, DEFAULTS, LIMITS)
    assert caught.value.field == field and caught.value.status == 422


def test_batch_key_groups_by_size_steps_guidance_and_negative_presence() -> None:
    def key(**fields: object) -> object:
        return resolve_request(GenerateRequest.model_validate({"prompt": "p", **fields}), DEFAULTS, LIMITS).batch_key

    assert key(seed=1) == key(seed=2, n=2)
    assert key(negative_prompt="a", guidance_scale=5.0) == key(negative_prompt="b", guidance_scale=5.0)
    assert len({key(), key(width=256), key(steps=2), key(guidance_scale=2.0), key(negative_prompt="x")}) == 5
