"""One middleware stack for every request, and hot routes served as FastAPI's router serves them.

Against the Redis the real worker filled (``test_gateway.filled``): an operator's middleware sees
every route, replayed or not; the hot-route table and the router's own scan give the same bytes
for every hot route; the order the routers are registered in decides nothing.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway import app as gateway_app
from services.gateway.app import create_app
from services.gateway.fastroute import FastRoute
from services.gateway.stack import GatewayApp
from shared.logging import JsonFormatter
from shared.settings import Settings
from tests.integration.test_gateway import Filled, filled  # noqa: F401  (the shared fixture)
from tests.integration.test_gateway_answer_cache import _until_following

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

P = "/model_references/statistics"
#: At least one URL per hot route template, answers and errors.
HOT_URLS = [
    "/image_generation", "/text_generation?group_text_models=true&limit=3", "/text_generation?offset=x",
    "/image_generation/with-stats", "/image_generation/with-stats?include_workers=true&format=csv",
    "/text_generation/with-stats?sort_by=usage_month&search=llama", "/text_generation/deletion-risk",
    "/text_generation/deletion-risk?preset=deletion_candidates&limit=50&offset=5",
    "/text_generation/audit?format=csv&preset=no_workers", "/image_generation/deletion-risk?preset=bogus",
    "/image_generation/deletion-risk/stable_diffusion", "/image_generation/audit/no-such-model",
    "/image_generation/deletion-risk/stable_diffusion/history", "/image_generation/history/summary",
    "/image_generation/history/summary?days=0", "/not_a_category/with-stats",
]  # fmt: skip
#: Routes outside the table (probes, docs, heartbeat, proposals) and answers of the middlewares.
OTHER_URLS = [
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/heartbeat", "/no/such/path",
    f"{P}/image_generation/removal-proposal", f"{P}/image_generation/with-stats?search=" + "x" * 5000,
]  # fmt: skip


#: A request id sent, so that error bodies (which carry it) compare equal.
SAME_ID = {"x-request-id": "same"}


class Witness:
    """An operator's middleware: counts the requests it saw and marks their answers."""

    seen: ClassVar[Counter[str]] = Counter()

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Witness.seen[scope["path"]] += 1

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-witness", b"1")]}
            await send(message)

        await self.app(scope, receive, marked)


@asynccontextmanager
async def gateway(
    settings: Settings, *, witness: bool = False
) -> AsyncIterator[tuple[GatewayApp, httpx.AsyncClient]]:
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    assert isinstance(app, GatewayApp)
    if witness:
        app.add_middleware(Witness)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client,
        ):
            await _until_following(app, client)
            yield app, client
    finally:
        await redis.aclose()


def _answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body; not the request id, which each request gets anew."""
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"]
    return response.status_code, headers, response.content


async def test_a_user_middleware_runs_on_every_route_replayed_or_not(filled: Filled) -> None:  # noqa: F811
    Witness.seen.clear()
    async with gateway(filled.settings, witness=True) as (app, client):
        urls = [P + u for u in HOT_URLS] + OTHER_URLS
        for url in urls:
            for method in ("GET", "HEAD", "GET"):  # recorded, then replayed (HEAD as GET)
                response = await client.request(method, url)
                assert response.headers.get("x-witness") == "1", (method, url, response.status_code)
        head = await client.head(P + "/image_generation/deletion-risk/events")  # an event stream
        assert head.headers.get("x-witness") == "1"
        assert app.answer_cache is not None
        assert app.answer_cache.hits >= 10  # most hot answers above were replayed, and marked
        for url in urls:
            assert Witness.seen[url.split("?")[0]] >= 3, url


async def test_hot_routes_are_served_as_the_router_serves_them(filled: Filled) -> None:  # noqa: F811
    settings = filled.settings.model_copy(deep=True)
    settings.gateway.answer_cache_bytes = 0  # every request reaches a route
    async with gateway(settings) as (app, client):
        await client.get("/healthz")  # builds the stack
        hot = app.hot_routes
        assert hot is not None
        table = {route.path for route, _ in hot.table}
        fast_get = {
            r.path
            for router in gateway_app.ROUTERS
            for r in router.routes
            if isinstance(r, FastRoute) and "GET" in (r.methods or ())
        }
        assert len(fast_get) >= 10
        assert table == fast_get  # every scalar GET route is in the table
        for url in HOT_URLS:
            for headers in ({"x-request-id": "same"}, {"accept-encoding": "gzip", "x-request-id": "same"}):
                hot.enabled = True
                by_table = _answer(await client.get(P + url, headers=headers))
                hot.enabled = False
                by_scan = _answer(await client.get(P + url, headers=headers))
                assert by_table == by_scan, (url, headers)
        hot.enabled = True


async def test_router_registration_order_decides_nothing(
    filled: Filled,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with gateway(filled.settings) as (_, client):
        expected = {url: _answer(await client.get(P + url, headers=SAME_ID)) for url in HOT_URLS}
        events = (await client.head(P + "/image_generation/deletion-risk/events")).status_code
    monkeypatch.setattr(gateway_app, "ROUTERS", tuple(reversed(gateway_app.ROUTERS)))
    async with gateway(filled.settings) as (_, client):
        for url in HOT_URLS:
            assert _answer(await client.get(P + url, headers=SAME_ID)) == expected[url], url
        assert (await client.head(P + "/image_generation/deletion-risk/events")).status_code == events == 200


async def test_request_ids_in_and_out_and_in_every_error_body(filled: Filled) -> None:  # noqa: F811
    async with gateway(filled.settings) as (_, client):
        errors = [
            f"{P}/not_a_category/with-stats",  # 404
            f"{P}/image_generation/deletion-risk?preset=bogus",  # 400
            f"{P}/image_generation/deletion-risk?limit=0",  # 422
            f"{P}/image_generation/with-stats?search=" + "x" * 5000,  # 414, before routing
            f"{P}/image_generation/removal-proposal?preset=bogus",  # 422 of FastAPI's own routing
        ]
        for url in errors:
            answer = await client.get(url, headers={"x-request-id": "trace-42:a.b"})
            assert answer.status_code >= 400, url
            assert answer.headers["x-request-id"] == "trace-42:a.b", url
            assert answer.json()["request_id"] == "trace-42:a.b", url
        ids = set()
        for _ in range(2):  # a replayed answer too gets its own id
            answer = await client.get(f"{P}/image_generation/with-stats")
            assert answer.status_code == 200
            ids.add(answer.headers["x-request-id"])
        assert len(ids) == 2
        # The id is added to each answer's own header list: one id per answer, however often a
        # route, page, asset or error is asked for (no header list is shared between answers).
        for url in (f"{P}/image_generation/with-stats", f"{P}/text_generation/deletion-risk?limit=5",
                    "/docs", "/openapi.json", "/review/", "/review/static/review.css", "/healthz",
                    f"{P}/nope/with-stats"):  # fmt: skip
            for _ in range(3):
                answer = await client.get(url)
                assert len(answer.headers.get_list("x-request-id")) == 1, url
        for unusable in ("has space", "x" * 65, "a/b"):
            answer = await client.get(f"{P}/nope/with-stats", headers={"x-request-id": unusable})
            assert answer.headers["x-request-id"] != unusable
            assert answer.json()["request_id"] == answer.headers["x-request-id"]


async def test_echoes_are_bounded_and_huge_numbers_rejected(filled: Filled) -> None:  # noqa: F811
    """A 10 KB model name is not echoed whole; a 26-digit ``limit``/``offset`` is 422."""
    huge = "m" * 10_000
    async with gateway(filled.settings) as (_, client):
        for url in (
            f"{P}/image_generation/deletion-risk/{huge}",
            f"{P}/{huge}/with-stats",
            f"{P}/image_generation/deletion-risk/{huge}/history",
        ):
            answer = await client.get(url)
            assert answer.status_code == 404, url
            assert len(answer.content) < 1000, url
            assert "10000 characters" in answer.json()["detail"]
        search = await client.get(f"{P}/image_generation/with-stats", params={"search": "s" * 600})
        assert search.status_code == 422
        assert len(search.content) < 1000
        digits = "9" * 26
        for route in ("deletion-risk", "audit"):
            for parameter in ("limit", "offset"):
                answer = await client.get(f"{P}/text_generation/{route}?{parameter}={digits}")
                assert answer.status_code == 422, (route, parameter)
                assert answer.json()["errors"][0]["type"] == "less_than_equal"
        for parameter in ("limit", "offset"):
            assert (await client.get(f"{P}/image_generation?{parameter}={digits}")).status_code == 422
        assert (await client.get(f"{P}/text_generation/deletion-risk?limit=1000000000")).status_code == 200
        # Integers as the original's FastAPI reads them (docs/contract.md, errors step 4).
        for value, status in (("2.0", 200), ("%202%20", 200), ("2.5", 422), ("1e3", 422), ("0x10", 422)):
            answer = await client.get(f"{P}/text_generation/deletion-risk?limit={value}")
            assert answer.status_code == status, value
            if status == 200:
                assert answer.json()["returned_count"] == 2, value


async def test_access_log_is_off_by_default_and_one_json_line_per_request_when_on(
    filled: Filled,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hma.access")
    async with gateway(filled.settings) as (_, client):
        await client.get(f"{P}/image_generation/with-stats")
    assert not [r for r in caplog.records if r.name == "hma.access"]
    settings = filled.settings.model_copy(deep=True)
    settings.gateway.access_log_sample_rate = 1.0
    async with gateway(settings) as (_, client):
        for _ in range(2):  # routed, then replayed: both logged
            await client.get(
                f"{P}/image_generation/with-stats?include_workers=true", headers={"x-request-id": "r1"}
            )
        await client.get(f"{P}/nope/with-stats")
    lines = [r for r in caplog.records if r.name == "hma.access"]
    assert [(r.status, r.route) for r in lines] == [
        (200, f"{P}/{{category}}/with-stats"),
        (200, f"{P}/{{category}}/with-stats"),
        (404, f"{P}/{{category}}/with-stats"),
    ]
    assert lines[0].request_id == "r1"
    assert lines[0].query == "include_workers=true"
    assert lines[0].bytes > 0
    formatted = json.loads(JsonFormatter("gateway").format(lines[0]))
    assert formatted["method"] == "GET"
    assert formatted["duration_ms"] >= 0


#: Decimal places of each float field as docs/contract.md states them (§4, §5, §6).
CONTRACT_DECIMALS = {
    "percentage": 2, "usage_percentage_of_category": 4, "usage_percentage": 4, "size_gb": 2,
    "cost_benefit_score": 2, "average_risk_score": 2, "average_size_gb": 2,
}  # fmt: skip


def _decimals(value: float | str) -> int:
    return max(0, -int(Decimal(str(value)).as_tuple().exponent))


def _rounded_floats(node: Any, found: list[tuple[str, float]], key: str = "") -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _rounded_floats(v, found, k)
    elif isinstance(node, list):
        for v in node:
            _rounded_floats(v, found, key)
    elif isinstance(node, float) and key in CONTRACT_DECIMALS:
        found.append((key, node))


async def test_floats_in_bodies_and_csv_are_rounded_as_the_contract_says(filled: Filled) -> None:  # noqa: F811
    async with gateway(filled.settings) as (_, client):
        floats: list[tuple[str, float]] = []
        for url in (
            "/image_generation",
            "/text_generation?group_text_models=true",
            "/image_generation/deletion-risk",
            "/text_generation/deletion-risk",
            "/text_generation/deletion-risk?group_text_models=true",
        ):
            _rounded_floats((await client.get(P + url)).json(), floats)
        assert {k for k, _ in floats} >= {"percentage", "usage_percentage_of_category", "average_risk_score"}
        for key, value in floats:
            assert _decimals(value) <= CONTRACT_DECIMALS[key], (key, value)
        for category in ("image_generation", "text_generation"):
            listing = (await client.get(f"{P}/{category}/deletion-risk")).json()["models"]
            rows = list(
                csv.DictReader(
                    io.StringIO((await client.get(f"{P}/{category}/deletion-risk?format=csv")).text)
                )
            )
            assert [r["name"] for r in rows] == [m["name"] for m in listing]
            for row, model in zip(rows, listing, strict=True):
                for column, field in (
                    ("usage_percentage", "usage_percentage_of_category"),
                    ("size_gb", "size_gb"),
                    ("cost_benefit_score", "cost_benefit_score"),
                ):
                    if row[column]:
                        assert _decimals(row[column]) <= CONTRACT_DECIMALS[column], (column, row[column])
                        assert float(row[column]) == model[field], (column, row["name"])
