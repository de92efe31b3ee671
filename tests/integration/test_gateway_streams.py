"""Event streams that last: production keep-alive, resume by stream position, Redis outages.

The risk events are XADDed to the real Redis with the fields the analytics workers write (the
worker's own publishing is covered by ``test_gateway_events`` and ``test_risk_events``); the
gateway runs in a real uvicorn server on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

import httpx
import pytest
from redis.asyncio import Redis

from devtools.devstack.broker import stop_process
from devtools.devstack.ports import free_port
from devtools.devstack.redis_server import start_redis_server
from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.support.analytics import worker_settings
from tests.support.gateway_server import SSE, serving, write_risk_event
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

IMAGE = ModelCategory.IMAGE_GENERATION
EVENTS = "/model_references/statistics/image_generation/deletion-risk/events"


@pytest.fixture
def settings(kafka: KafkaInfo, redis_url: str, unique: str) -> Settings:
    """Gateway settings at their production values (keep-alive 15 s), isolated by key prefix."""
    chosen = worker_settings(kafka, redis_url, unique)
    assert chosen.gateway.sse_keepalive_seconds == 15.0
    return chosen


@pytest.fixture
async def redis(settings: Settings) -> Redis:
    client = Redis.from_url(settings.redis.url)
    yield client  # type: ignore[misc]
    await client.aclose()


async def test_a_silent_stream_stays_open_with_keepalives_at_the_production_interval(
    settings: Settings,
) -> None:
    """Issue 14: with the production 15 s keep-alive (and Redis's 5 s socket timeout) a silent
    stream is alive after 40 s, having received keep-alive comments, not a cut after 5 s."""
    async with (
        serving(settings) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as client,
        client.stream("GET", EVENTS) as response,
    ):
        assert response.status_code == 200
        stream = SSE(response)
        first = await stream.next()
        assert first["comment"] == "connected"
        assert first["id"]  # the current stream position, so a reconnect resumes there
        started = time.monotonic()
        keepalives = 0
        while time.monotonic() - started < 40:
            message = await stream.next(within=30)
            assert message == {"comment": "keep-alive"}
            keepalives += 1
        assert keepalives >= 2
        assert (await client.get("/readyz")).status_code == 200


async def _read_events(stream: SSE, count: int) -> list[str]:
    return [(await stream.next_event())["id"] for _ in range(count)]


async def test_reconnects_resume_by_stream_position_without_missing_or_repeating(
    settings: Settings, redis: Redis
) -> None:
    """Ids are stream positions; a reconnect before the first event resumes from the position sent
    at connect; a reconnect after events resumes after the last one; nothing missed or repeated."""
    keys = RedisKeys(settings.redis.key_prefix)
    received: list[str] = []
    async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
        async with client.stream("GET", EVENTS) as response:
            hello = await SSE(response).next()
            last_id = hello["id"]
        # Disconnected before any event; three happen meanwhile.
        for n in range(3):
            await write_risk_event(redis, keys, IMAGE, f"gap-{n}")
        async with client.stream("GET", EVENTS, headers={"Last-Event-ID": last_id}) as response:
            stream = SSE(response)
            hello = await stream.next()
            assert hello["comment"] == "resumed"
            assert hello["id"] == last_id
            received += await _read_events(stream, 3)
            for n in range(2):
                await write_risk_event(redis, keys, IMAGE, f"live-{n}")
            received += await _read_events(stream, 1)  # one read, one left unread
        for n in range(2):
            await write_risk_event(redis, keys, IMAGE, f"later-{n}")
        async with client.stream("GET", EVENTS, params={"resume_after": received[-1]}) as response:
            stream = SSE(response)
            assert (await stream.next())["comment"] == "resumed"
            received += await _read_events(stream, 3)
            await write_risk_event(redis, keys, IMAGE, "last")
            received += await _read_events(stream, 1)
    everything = [entry[0].decode() for entry in await redis.xrange(keys.risk_events(IMAGE))]
    assert received == everything
    assert len(set(received)) == len(received) == 8


async def test_streams_survive_a_redis_outage_and_resume_when_it_returns(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stopped while a stream is open: keep-alives go on, no ERROR is logged, and the
    events written once Redis is back (an empty one, as after a restart) reach the stream."""
    url, process = start_redis_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    chosen = settings.model_copy(deep=True)
    chosen.redis.url = url
    chosen.gateway.sse_keepalive_seconds = 1.0  # the production value is covered above
    keys = RedisKeys(chosen.redis.key_prefix)
    writer = Redis.from_url(url)
    try:
        with caplog.at_level(logging.INFO):
            async with serving(chosen) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
                await write_risk_event(writer, keys, IMAGE, "before")
                async with client.stream("GET", EVENTS) as response:
                    stream = SSE(response)
                    assert (await stream.next())["comment"] == "connected"
                    stop_process(process)
                    for _ in range(4):  # several keep-alives while Redis is away
                        assert (await stream.next(within=10)) == {"comment": "keep-alive"}
                    assert (await client.get("/readyz")).status_code == 503
                    url, process = start_redis_server(port)
                    await writer.aclose()
                    writer = Redis.from_url(url)
                    position = await write_risk_event(writer, keys, IMAGE, "after")
                    event = await stream.next_event(within=30)
                    assert event["id"] == position
                    assert '"model":"after"' in event["data"]
                assert (await client.get("/readyz")).status_code == 200
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
        assert any("streams stay open" in r.getMessage() for r in caplog.records)
    finally:
        await writer.aclose()
        stop_process(process)


async def test_new_stream_while_redis_is_down_gets_503_not_an_error(settings: Settings) -> None:
    """Bad moment, clear answer: without Redis a new stream cannot know its position → 503."""
    url, process = start_redis_server()
    chosen = settings.model_copy(deep=True)
    chosen.redis.url = url
    try:
        async with serving(chosen) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
            stop_process(process)
            response = await client.get(EVENTS)
            assert response.status_code == 503
            assert response.headers["Retry-After"]
    finally:
        stop_process(process)


async def test_sigterm_ends_open_streams_with_a_last_comment_and_the_gateway_exits_0(
    settings: Settings,
) -> None:
    """A rolling update: open streams end at once with a comment (clients reconnect to another
    pod with Last-Event-ID) instead of holding the shutdown until it is cut."""
    port = free_port()
    env = {**os.environ, "HORDE_HTTP_HOST": "127.0.0.1", "HORDE_HTTP_PORT": str(port),
           "HORDE_REDIS__URL": settings.redis.url, "HORDE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
           "HORDE_LOG_JSON": "true"}  # fmt: skip
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.gateway", env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(300):  # bounded: until it answers
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            async with client.stream("GET", EVENTS) as response:
                stream = SSE(response)
                assert (await stream.next())["comment"] == "connected"
                process.send_signal(signal.SIGTERM)
                assert "gateway stopping" in (await stream.next(within=10))["comment"]
                with pytest.raises(AssertionError, match="stream ended"):
                    await stream.next(within=10)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
