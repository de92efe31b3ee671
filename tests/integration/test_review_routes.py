"""The review pages over worker-filled Redis, in-process (the browser tests drive a whole stack).

They answer from the same generation and index as the API (row counts equal), through the app's
middleware (query-string cap, HEAD), with the API's conditional GET; bad input is a readable
HTML error with the API's status, never a 500.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.test_gateway import IDENTITY, Filled, P, client, filled  # noqa: F401

pytestmark = pytest.mark.integration
ROW = re.compile(r'<tr data-model="')


async def rows_of(client: httpx.AsyncClient, path: str, **params: object) -> int:  # noqa: F811
    response = await client.get(path, params=params, headers=IDENTITY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return len(ROW.findall(response.text))


async def api_total(client: httpx.AsyncClient, category: str, **params: object) -> int:  # noqa: F811
    response = await client.get(f"{P}/{category}/deletion-risk", params=params, headers=IDENTITY)
    total: int = response.json()["total_count"]
    return total


async def test_the_table_shows_the_api_rows_for_presets_searches_and_pages(client: httpx.AsyncClient) -> None:  # noqa: F811
    for category in ("image_generation", "text_generation"):
        assert await rows_of(client, f"/review/{category}") == await api_total(client, category)
        for preset in ("critical", "no_workers", "zero_usage"):
            shown = await rows_of(client, f"/review/{category}", preset=preset)
            assert shown == await api_total(client, category, preset=preset)
    searched = await rows_of(client, "/review/text_generation", search="llama")
    assert 0 < searched == await api_total(client, "text_generation", search="llama")
    paged = await rows_of(client, "/review/image_generation", limit="50", offset="50", sort_by="name")
    assert paged == min(50, max(0, await api_total(client, "image_generation") - 50))


async def test_pages_answer_304_to_their_etag_and_carry_the_api_freshness_headers(
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    for path in ("/review/image_generation", "/review/text_generation/proposal"):
        first = await client.get(path)
        assert first.status_code == 200
        assert first.headers["x-generation"]
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get(path, headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304
    gz = await client.get("/review/text_generation", headers={"accept-encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"  # the 700-row page is gzipped once per generation


async def test_bad_input_is_an_html_error_with_the_api_status(client: httpx.AsyncClient) -> None:  # noqa: F811
    cases = {
        "/review/no_such_category": 404,
        "/review/clip": 400,  # no runtime data (D16)
        "/review/image_generation?preset=nope": 400,
        "/review/image_generation?sort_by=nope": 400,
        "/review/image_generation?limit=abc": 400,
        "/review/image_generation?offset=-1": 400,
        "/review/image_generation/proposal?preset=nope": 422,
        "/review/image_generation/proposal?include=a&exclude=a": 422,
        "/review/image_generation/model/no%20such%20model": 404,
    }
    for path, status in cases.items():
        response = await client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert '<p class="error">' in response.text, path


async def test_review_pages_go_through_the_middleware_stack(client: httpx.AsyncClient) -> None:  # noqa: F811
    too_long = await client.get("/review/image_generation", params={"search": "x" * 4000})
    assert too_long.status_code == 414
    head = await client.head("/review/")
    assert head.status_code == 200
    assert head.content == b""


async def test_model_pages_accept_names_with_slashes_and_show_variations(
    client: httpx.AsyncClient,  # noqa: F811
) -> None:
    listing = await client.get(f"{P}/text_generation/deletion-risk", params={"limit": 50}, headers=IDENTITY)
    name = next(m["name"] for m in listing.json()["models"] if "/" in m["name"])
    page = await client.get(f"/review/text_generation/model/{name}")
    assert page.status_code == 200
    assert f"<h1>{name}</h1>" in page.text
    assert page.text.count('<svg class="chart"') in (0, 3)


async def test_proposal_downloads_point_at_the_api_and_answer_there(client: httpx.AsyncClient) -> None:  # noqa: F811
    page = await client.get("/review/image_generation/proposal", params=[("preset", "zero_usage")])
    links = re.findall(r'<a class="button" href="([^"]+)" download>', page.text)
    assert len(links) == 4
    for link in links:
        href = link.replace("&amp;", "&")
        assert href.startswith(f"{P}/image_generation/")
        # The patch is 409 here: these reference events were published without the legacy file.
        expected = (200, 409) if "format=patch" in href else (200,)
        assert (await client.get(href)).status_code in expected, href


async def test_static_assets_are_immutable_and_revalidate(client: httpx.AsyncClient) -> None:  # noqa: F811
    css = await client.get("/review/static/review.css")
    assert css.status_code == 200
    assert "immutable" in css.headers["cache-control"]
    again = await client.get("/review/static/review.css", headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get("/review/static/nothing.js")).status_code == 404
    index = await client.get("/review/")
    assert "/review/static/review.css?v=" in index.text
