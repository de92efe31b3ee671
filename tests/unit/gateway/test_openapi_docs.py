"""The OpenAPI document states the gateway's HTTP caching, and ``/docs`` needs no CDN.

In-process, without the lifespan (no Redis needed for the document and the docs page).
"""

from __future__ import annotations

import httpx

from services.gateway.app import create_app
from services.gateway.openapi_docs import FRESHNESS_HEADERS
from shared.settings import Settings

P = "/model_references/statistics"


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(create_app(Settings())), base_url="http://gw")


async def test_every_view_route_documents_freshness_headers_etag_if_none_match_and_304() -> None:
    async with client() as gw:
        schema = (await gw.get("/openapi.json")).json()
    views = {path: ops for path, ops in schema["paths"].items() if path.startswith(P)}
    assert f"{P}/{{category}}/deletion-risk/{{model}}" in views
    checked = 0
    for path, operations in views.items():
        for operation in operations.values():
            if path.endswith("/events"):
                assert "304" not in operation["responses"]
                continue
            names = {(p["name"], p["in"]) for p in operation["parameters"]}
            assert ("If-None-Match", "header") in names, path
            for status in ("200", "304"):
                headers = operation["responses"][status]["headers"]
                assert set(FRESHNESS_HEADERS) <= set(headers), (path, status)
            assert "content" not in operation["responses"]["304"]
            checked += 1
    assert checked == 9  # statistics, with-stats, deletion-risk, audit, model routes, proposal, history
    assert {"ETag", "X-Data-Stale", "X-Generation", "Last-Modified", "X-Request-Id"} <= set(FRESHNESS_HEADERS)


async def test_docs_page_and_its_assets_are_served_by_the_gateway_offline() -> None:
    async with client() as gw:
        page = await gw.get("/docs")
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "unpkg" not in page.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"/docs-assets/{asset}" in page.text
            served = await gw.get(f"/docs-assets/{asset}")
            assert served.status_code == 200
            assert len(served.content) > 10_000
        assert (await gw.get("/redoc")).status_code == 404  # ReDoc would need a CDN: not offered
