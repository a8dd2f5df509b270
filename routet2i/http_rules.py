"""HTTP rules the gateway and the worker share, each written once here:

- a JSON endpoint takes only a JSON body: a body sent as anything else (``text/plain``, a form,
  no ``Content-Type`` at all) is refused with 415 naming the content type expected
  (:class:`JsonBodyRoute`, the route class of every router with JSON bodies);
- a JSON integer may be written ``2.0`` (JSON Schema counts it an integer, so a client or a fuzzer
  may send it): a :class:`JsonBody` takes it, while a strict model still refuses ``"2"``, ``true``
  and ``2.5``;
- a 405 lists every method of its path in ``Allow`` (:func:`allowed_methods`), not only those of
  the one route Starlette happened to match first (``GET /v1/budget`` and ``PUT /v1/budget`` are
  two routes of one path).

Both raise or feed Starlette's ``HTTPException``, so each service's one error mapping answers them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, get_args

import fastapi.routing
from fastapi.routing import APIRoute
from pydantic import BaseModel, model_validator
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

#: The content type of every JSON request body.
JSON_MEDIA_TYPE = "application/json"

#: Methods no route declares but every path answers (HEAD with GET; OPTIONS for CORS).
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class JsonBody(BaseModel):
    """A JSON request body whose integer fields also take ``2.0`` (JSON Schema counts it an
    integer); everything else is as strict as the model's config says."""

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        ints = _int_fields(cls)
        return {k: int(v) if k in ints and isinstance(v, float) and v.is_integer() else v for k, v in data.items()}


def _int_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` typed ``int`` or ``int | None``."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if info.annotation is int or set(get_args(info.annotation)) == {int, type(None)}
    )


def is_json_media_type(content_type: str | None) -> bool:
    """Whether ``content_type`` is JSON: ``application/json`` or ``application/<x>+json``, any
    parameters (``; charset=utf-8``) aside."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class UnsupportedMediaType(HTTPException):
    """HTTP 415: the body is not JSON."""

    def __init__(self, content_type: str | None) -> None:
        sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        super().__init__(
            status_code=415,
            detail=f"the body must be JSON sent with Content-Type: {JSON_MEDIA_TYPE}; this request has {sent}",
        )


class JsonBodyRoute(APIRoute):
    """A FastAPI route whose JSON body, when it has one, must be sent as JSON (else 415).

    An optional body (``POST /v1/admin/reload``) may be left out entirely; a required one, or any
    non-empty body, needs a JSON ``Content-Type``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        body_field = self.body_field
        if body_field is None:
            return handler
        required = body_field.field_info.is_required()

        async def json_only(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if not is_json_media_type(content_type) and (required or await request.body()):
                raise UnsupportedMediaType(content_type)
            return await handler(request)

        return json_only


def _flat(routes: Iterable[BaseRoute]) -> Iterable[Any]:
    """Every route, those of included routers too (FastAPI ≥ 0.130 keeps included routers whole)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(routes) if flatten is None else flatten(list(routes))


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method the routes serve at the path of ``scope`` (for ``Allow`` on a 405), in the
    usual order (GET, HEAD, POST, PUT, …)."""
    methods: set[str] = set()
    for route in _flat(routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods.update(m.upper() for m in route_methods)
    known = [m for m in _METHOD_ORDER if m in methods]
    return known + sorted(methods - set(known))


def allow_header(routes: Iterable[BaseRoute], scope: Scope, fallback: str | None) -> dict[str, str]:
    """The ``Allow`` header of a 405 at ``scope``'s path (``fallback``, Starlette's own value,
    when no route is found)."""
    methods = allowed_methods(routes, scope)
    if methods:
        return {"Allow": ", ".join(methods)}
    return {"Allow": fallback} if fallback else {}
