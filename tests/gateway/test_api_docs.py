"""Offline API docs (routet2i/api_docs.py): /docs (Swagger UI) and /redoc load their assets from
the gateway itself, never from another host, and those assets answer 200."""

from __future__ import annotations

import re

import pytest

from tests.gateway.conftest import MakeGateway

_URL = re.compile(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""")


@pytest.mark.parametrize(("page", "marker"), [("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")])
def test_docs_pages_name_no_other_host(make_gateway: MakeGateway, page: str, marker: str) -> None:
    with make_gateway() as gw:
        r = gw.client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert marker in html
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
        urls = _URL.findall(html)
        assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls
        for url in urls:
            assert url.startswith("/"), url
            asset = gw.client.get(url)
            assert asset.status_code == 200 and asset.content, url
