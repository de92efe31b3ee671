"""HEAD on one keep-alive connection, and the cap on event streams at the production maximum.

Both need a real uvicorn server: connection reuse and concurrent endless streams do not exist
behind an in-process ASGI transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import quote, urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import STREAM_BACKLOG_CONNECTIONS
from shared.domain.categories import RUNTIME_CATEGORIES
from tests.integration.test_gateway import Filled, filled  # noqa: F401  (module fixture)
from tests.support.gateway_server import serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

P = "/model_references/statistics"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response from the connection (Content-Length or chunked body; none for HEAD)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    return int(status_line.split()[1]), headers, b""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30)
    assert headers.get("transfer-encoding") == "chunked", headers
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return body
        body += chunk[:-2]


async def test_head_then_get_on_one_keepalive_connection_for_every_get_route(
    filled: Filled,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14: HEAD answers headers only, logs no error and leaves the connection usable: every
    GET route is asked HEAD, GET, HEAD (now replayed from the answer cache), GET on one socket."""
    async with serving(filled.settings) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            listing = (await client.get(f"{P}/image_generation/deletion-risk")).json()
        model = quote(listing["models"][0]["name"], safe="")
        paths = [
            f"{P}/image_generation", f"{P}/image_generation/with-stats", f"{P}/text_generation/with-stats",
            f"{P}/image_generation/deletion-risk", f"{P}/image_generation/deletion-risk/{model}",
            f"{P}/image_generation/audit", f"{P}/image_generation/audit/{model}",
            f"{P}/image_generation/deletion-risk/events", f"{P}/image_generation/audit/events",
            f"{P}/unknown_category", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
        ]  # fmt: skip
        address = urlsplit(base)
        with caplog.at_level(logging.WARNING):
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            try:
                for path in paths:
                    lengths: dict[str, str | None] = {}
                    for method in ("HEAD", "GET", "HEAD"):
                        if method == "GET" and path.endswith("/events"):
                            continue  # endless: its GET is covered by the stream tests
                        writer.write(f"{method} {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
                        await writer.drain()
                        status, headers, _ = await _read_response(reader)
                        assert status in (200, 404), (method, path, status)
                        assert headers.get("connection") != "close", (method, path)
                        if method == "GET":
                            assert await _read_body(reader, headers), path
                        lengths[method] = headers.get("content-length")
                    if "GET" in lengths and path != "/metrics":
                        assert lengths["HEAD"] == lengths["GET"], path
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_stream_cap_at_the_configured_maximum_plus_fifty(filled: Filled) -> None:  # noqa: F811
    """Issue 14: with the production cap, max + 50 streams: exactly max are served, the other 50
    get 429 with Retry-After, /readyz stays 200, queries answer 200 throughout, and the gateway's
    Redis connections do not grow with the number of streams."""
    settings = filled.settings
    cap = settings.gateway.max_sse_streams
    assert cap == 100  # the production default
    events = f"{P}/image_generation/deletion-risk/events"
    admin = Redis.from_url(settings.redis.url)
    before = len(await admin.client_list())
    async with serving(settings) as base:
        limits = httpx.Limits(max_connections=cap + 100, max_keepalive_connections=cap + 100)
        async with (
            httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client,
            contextlib.AsyncExitStack() as stack,
        ):

            async def open_stream() -> int:
                response = await stack.enter_async_context(client.stream("GET", events))
                if response.status_code == 429:
                    assert int(response.headers["Retry-After"]) > 0
                    assert "event streams" in (await response.aread()).decode()
                return response.status_code

            statuses: list[int] = []
            for wave in range(0, cap + 50, 25):
                statuses += await asyncio.gather(*(open_stream() for _ in range(min(25, cap + 50 - wave))))
                assert (await client.get("/readyz")).status_code == 200
                assert (
                    await client.get(f"{P}/image_generation/deletion-risk", params={"search": f"w{wave}"})
                ).status_code == 200
                assert (
                    await client.get(f"{P}/text_generation/with-stats", params={"sort_by": "name"})
                ).status_code == 200
            assert statuses.count(200) == cap
            assert statuses.count(429) == 50
            during = len(await admin.client_list())
            for _ in range(20):
                assert (
                    await client.get(f"{P}/image_generation/with-stats", params={"search": "a"})
                ).status_code == 200
            assert (await client.get("/readyz")).json() == {"ready": True, "checks": {"redis": True}}
    # The query pool, the probe's, the announcements and the stream client's: bounded by the
    # settings, whatever the number of streams.
    bound = (
        settings.gateway.redis_max_connections + 2 + STREAM_BACKLOG_CONNECTIONS + len(RUNTIME_CATEGORIES) + 1
    )
    assert during - before <= bound < cap, (before, during)
    await admin.aclose()
