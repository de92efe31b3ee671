"""The OpenAPI document's HTTP caching and freshness, and ``/docs`` served without a CDN.

FastAPI documents parameters and bodies from the routes; what ``serve`` adds to every answer of a
materialised view (the freshness headers, ``ETag``, ``If-None-Match`` and its ``304``) is added
here once to each such operation. The Swagger UI assets come from the ``swagger-ui-bundle``
package and are served by the gateway itself, so ``/docs`` works offline.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

#: Headers of every answer of a materialised view (200 and 304), as ``serve`` sets them.
FRESHNESS_HEADERS: dict[str, str] = {
    "ETag": "Strong tag of this representation: differs per generation, view, query, staleness and "
    "content coding (`-gzip`). Send it back in `If-None-Match` for a 304.",
    "Last-Modified": "When the newest input of the answer was captured.",
    "X-Generation": "Id of the materialised generation the answer was read from.",
    "X-Computed-At": "Unix time the generation was computed.",
    "X-Reference-Version": "Version (content hash) of the model reference in force.",
    "X-Horde-Snapshot-At": "Unix time of the AI Horde status snapshot used (runtime routes).",
    "X-Horde-Stats-At": "Unix time of the AI Horde stats snapshot used (runtime routes).",
    "X-Horde-Workers-At": "Unix time of the AI Horde workers snapshot used (runtime routes).",
    "X-Data-Stale": "`true` when the answer's inputs are older than the staleness limit.",
    "X-Missing-Sources": "Inputs the answer lacks (absent when complete).",
    "Vary": "`Accept-Encoding`: gzip is served when accepted.",
    "X-Request-Id": "The request's id (the client's own when a token of at most 64 `A-Za-z0-9._:-`); "
    "error bodies repeat it as `request_id`.",
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "An `ETag` received before: 304 without a body when it still names this answer.",
}
_STATIC = "/docs-assets"


def _headers() -> dict[str, Any]:
    return {
        name: {"description": text, "schema": {"type": "string"}} for name, text in FRESHNESS_HEADERS.items()
    }


def add_caching(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``schema`` with the freshness headers, ``If-None-Match`` and 304 on every view route."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(prefix) or path.endswith("/events"):
            continue
        for operation in operations.values():
            operation.setdefault("parameters", []).append(dict(_IF_NONE_MATCH))
            responses = operation.setdefault("responses", {})
            if "200" in responses:
                responses["200"]["headers"] = _headers()
            responses["304"] = {
                "description": "Not Modified: `If-None-Match` names this answer (no body).",
                "headers": _headers(),
            }
    return schema


def document(app: FastAPI, prefix: str) -> None:
    """Complete ``app``'s OpenAPI document and serve ``/docs`` from packaged assets."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_caching(build(), prefix)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(_STATIC, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{_STATIC}/favicon-32x32.png",
        )
