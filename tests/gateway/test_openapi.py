"""The gateway's OpenAPI document (routet2i/gateway/openapi.py) states every rule the server
enforces: prompts not blank and within the length limit, /v1/route's exactly-one-of, sizes'
ranges and multiples (also OpenAI's ``size``), the configured maxima, the tiers for ``route``
and ``model``, the budget's bounds, and the errors (405 with Allow, 406, 415)."""

from __future__ import annotations

import re
from typing import Any

from routet2i.gateway.openapi import openai_size_pattern, size_values
from routet2i.gateway.routes.openai_images import parse_size
from routet2i.gateway.settings import LimitOptions
from tests.gateway.conftest import MakeGateway

LIMITS = {
    "max_prompt_chars": 50,
    "min_size": 64,
    "max_size": 256,
    "size_multiple": 32,
    "max_n": 3,
    "max_steps": 9,
    "default_width": 128,
    "default_height": 128,
}


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _non_null(prop: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    assert len(branches) == 1
    return branches[0]


def test_prompts_must_not_be_empty_or_blank(make_gateway: MakeGateway) -> None:
    with make_gateway(limits=LIMITS) as gw:
        schemas = _schemas(gw.client.get("/openapi.json").json())
        for model in ("GenerateBody", "OpenAIImageRequest", "RouteBody"):
            prompt = schemas[model]["properties"]["prompt"]
            assert prompt["minLength"] == 1 and prompt["maxLength"] == 50 and prompt["pattern"] == r"\S", model
        items = schemas["RouteBody"]["properties"]["prompts"]["items"]
        assert items["minLength"] == 1 and items["pattern"] == r"\S"
        for path in ("/generate", "/v1/images/generations"):  # what the schema forbids, the server refuses
            for prompt in ("", "   ", "x" * 51):
                r = gw.client.post(path, json={"prompt": prompt})
                assert r.status_code == 422 and r.json()["error"]["field"] == "prompt", (path, prompt)


def test_route_takes_exactly_one_of_prompt_and_prompts(make_gateway: MakeGateway) -> None:
    with make_gateway(limits=LIMITS) as gw:
        route = _schemas(gw.client.get("/openapi.json").json())["RouteBody"]
        assert route["oneOf"] == [{"required": ["prompt"]}, {"required": ["prompts"]}]
        assert route["additionalProperties"] is False
        prompts = route["properties"]["prompts"]
        assert prompts["minItems"] == 1 and prompts["maxItems"] == 256
        assert route["properties"]["prompt"]["type"] == "string"  # not nullable
        for body in ({}, {"prompt": "a", "prompts": ["b"]}, {"prompt": None}, {"prompt": "a", "prompts": None}):
            assert gw.client.post("/v1/route", json=body).status_code == 422, body
        assert gw.client.post("/v1/route", json={"prompts": ["a", "b"]}).status_code == 200


def test_limits_and_tiers_are_stated(make_gateway: MakeGateway) -> None:
    with make_gateway(limits=LIMITS) as gw:
        schemas = _schemas(gw.client.get("/openapi.json").json())
        generate = schemas["GenerateBody"]["properties"]
        for side in ("width", "height"):
            assert _non_null(generate[side]) | {"minimum": 64, "maximum": 256, "multipleOf": 32} == _non_null(
                generate[side]
            )
        assert _non_null(generate["steps"])["maximum"] == 9 and generate["n"]["maximum"] == 3
        assert generate["route"]["enum"] == ["auto", "edge", "cloud"]
        assert _non_null(generate["output_compression"]) | {"minimum": 0, "maximum": 100} == _non_null(
            generate["output_compression"]
        )
        assert set(_non_null(generate["output_format"])["enum"]) == {"png", "jpeg", "webp"}
        openai = schemas["OpenAIImageRequest"]["properties"]
        assert set(openai["model"]["enum"]) == {"auto", "edge", "cloud", "tiny-edge", "tiny-cloud", None}
        assert _non_null(openai["n"])["maximum"] == 3
        assert openai["response_format"]["enum"] == ["b64_json", None] and openai["stream"]["enum"] == [False, None]
        budget = schemas["BudgetUpdate"]
        assert budget["minProperties"] == 1 and budget["properties"]["window"]["type"] == "integer"
        assert budget["properties"]["window"]["minimum"] == 1  # not nullable, bounded as BudgetPolicy says
        assert _non_null(budget["properties"]["cloud_share"]) | {"minimum": 0, "maximum": 1} == _non_null(
            budget["properties"]["cloud_share"]
        )


def test_openai_size_pattern_matches_what_parse_size_and_the_limits_take() -> None:
    limits = LimitOptions(**LIMITS)
    assert size_values(limits) == [64, 96, 128, 160, 192, 224, 256]
    pattern = re.compile(openai_size_pattern(limits))
    for ok in ("auto", "64x256", "256x96"):
        assert pattern.search(ok), ok
    for bad in ("32x64", "64x288", "65x64", "64X64", " 64x64", "64x64 ", "64*64", ""):
        assert not pattern.search(bad), bad
    assert parse_size("96x128") == (96, 128)


def test_errors_are_documented(make_gateway: MakeGateway) -> None:
    with make_gateway() as gw:
        document = gw.client.get("/openapi.json").json()
        generate = document["paths"]["/generate"]["post"]["responses"]
        assert {"405", "406", "413", "415", "422"} <= set(generate)
        assert "Allow" in generate["405"]["headers"]
        assert set(generate["200"]["content"]) == {"application/json", "image/png", "image/jpeg", "image/webp"}
        assert set(document["paths"]["/v1/budget"]) == {"get", "put"}
