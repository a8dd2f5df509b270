"""The API's documentation, for the gateway and the worker alike: the OpenAPI document with the
limits each service enforces from its config written in (:func:`install_constrained_openapi`), and
the interactive pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from assets that ship
in a Python package, so they work offline (FastAPI's own pages load them from a CDN).

The assets are those of ``fastapi-offline`` (a core dependency): Swagger UI 5 and the ReDoc
standalone bundle, mounted at ``/docs-assets``. ``swagger-ui-bundle`` was the other candidate; it
has no ReDoc, and its Swagger UI 4 cannot render the OpenAPI 3.1 documents FastAPI writes. The
pages name no other host: no CDN, no Google Fonts, no favicon elsewhere, no online validator badge.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

#: The Python package (and its folder) that ships the Swagger UI and ReDoc assets.
ASSET_PACKAGE = ("fastapi_offline", "static")
#: Where the assets are served.
ASSETS_URL = "/docs-assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

#: Per request-body schema (a component's name) and property, the JSON-schema keywords to add.
Constraints = dict[str, dict[str, dict[str, Any]]]


def _constrain(prop: dict[str, Any], keywords: dict[str, Any]) -> None:
    """Add ``keywords`` to a property's schema (to its non-null branch when it is nullable);
    ``items`` keywords go into the array's item schema; a nullable enum keeps null."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    for branch in branches:
        for key, value in keywords.items():
            if key == "items":
                branch.setdefault("items", {}).update(value)
            elif key == "enum" and branch is not prop:
                prop["enum"] = [*value, None]
            else:
                branch[key] = value


def state_constraints(document: dict[str, Any], constraints: Constraints) -> dict[str, Any]:
    """``document`` (a generated OpenAPI dict) with ``constraints`` written into its schemas."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, props in constraints.items():
        model = schemas.get(name)
        if model is None:
            continue
        for prop_name, keywords in props.items():
            if prop_name in model.get("properties", {}):
                _constrain(model["properties"][prop_name], keywords)
    return document


def install_constrained_openapi(app: FastAPI, constraints: Constraints) -> None:
    """Make ``app``'s OpenAPI document state ``constraints`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                openapi_version=app.openapi_version,
            )
            app.openapi_schema = state_constraints(document, constraints)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` on ``app`` from the packaged assets. ``app`` must be built
    with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off)."""
    assert app.docs_url is None and app.redoc_url is None, "turn FastAPI's CDN docs off first"
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(packages=[ASSET_PACKAGE]), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
