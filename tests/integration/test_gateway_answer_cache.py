"""Replayed answers are the routed answers, byte for byte, and stop the moment they are not.

Against the Redis the real worker filled (``test_gateway.filled``): every request is sent to a
gateway that replays recorded answers (twice: recorded, then replayed) and to one with the answer
cache off; status, headers and body must be identical. Then a new generation written the way the
worker writes one (views swapped, announcement published) and a fresh answer turning stale by age
must both show up on the very next request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from redis.asyncio import Redis

from services.gateway.app import create_app
from services.gateway.stack import GatewayApp
from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from tests.integration.test_gateway import Filled, filled  # noqa: F401  (the shared fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

IMAGE = ModelCategory.IMAGE_GENERATION
P = "/model_references/statistics"
ORIGIN = "https://models.example"
URLS = [
    "/image_generation/with-stats", "/image_generation/with-stats?include_workers=true&format=csv",
    "/text_generation/with-stats?sort_by=usage_month&search=llama", "/text_generation",
    "/text_generation?group_text_models=true&limit=3", "/text_generation/deletion-risk",
    "/text_generation/deletion-risk?preset=deletion_candidates&limit=50&offset=5",
    "/text_generation/deletion-risk?group_text_models=true&sort_by=size_gb&sort_desc=false",
    "/text_generation/audit?format=csv&preset=no_workers", "/image_generation/deletion-risk/stable_diffusion",
    "/image_generation/deletion-risk/no-such-model", "/image_generation/deletion-risk?preset=bogus",
    "/image_generation/with-stats?limit=-1", "/not_a_category/with-stats",
]  # fmt: skip
HEADER_SETS: list[dict[str, str]] = [
    {"x-request-id": "same"}, {"accept-encoding": "identity"}, {"accept-encoding": "gzip, deflate, br"},
    {"accept-encoding": "br;q=1, gzip;q=0"}, {"origin": ORIGIN}, {"origin": "https://elsewhere.example"},
    {"origin": ORIGIN, "cookie": "session=1", "accept-encoding": "gzip"},
]  # fmt: skip
for _headers in HEADER_SETS:  # error bodies carry the request id: the same one, so they compare
    _headers["x-request-id"] = "same"


@asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[tuple[GatewayApp, httpx.AsyncClient]]:
    redis = Redis.from_url(settings.redis.url)
    app = create_app(settings, redis=redis)
    assert isinstance(app, GatewayApp)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client,
        ):
            await _until_following(app, client)
            yield app, client
    finally:
        await redis.aclose()


async def _until_following(app: GatewayApp, client: httpx.AsyncClient) -> None:
    """Wait until the pointer subscription is live (before it, nothing is replayed by design)."""
    assert app.gateway is not None, "the lifespan sets the gateway"
    pointers = app.gateway.pointers
    for _ in range(100):
        if pointers.live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway never subscribed to pointer announcements")


def _settings(data: Filled, *, answer_cache: bool) -> Settings:
    settings = data.settings.model_copy(deep=True)
    settings.gateway.cors_origins = [ORIGIN]
    settings.gateway.answer_cache_bytes = settings.gateway.answer_cache_bytes if answer_cache else 0
    return settings


def _answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body; not the request id, which each request gets anew."""
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"]
    return response.status_code, headers, response.content


async def test_replayed_answers_equal_routed_answers_byte_for_byte(filled: Filled) -> None:  # noqa: F811
    async with (
        gateway(_settings(filled, answer_cache=True)) as (app, cached),
        gateway(_settings(filled, answer_cache=False)) as (plain_app, plain),
    ):
        assert app.answer_cache is not None
        assert plain_app.answer_cache is None
        requests = [
            (method, url, headers) for url in URLS for headers in HEADER_SETS for method in ("GET", "HEAD")
        ]
        for method, url, headers in requests:
            routed = _answer(await plain.request(method, P + url, headers=headers))
            for attempt in ("recorded", "replayed"):
                answer = _answer(await cached.request(method, P + url, headers=headers))
                assert answer == routed, (method, url, headers, attempt)
            if routed[0] == 200 and method == "GET":
                etag = dict(routed[1])[b"etag"].decode()
                conditional = {**headers, "if-none-match": etag}
                not_modified = _answer(await plain.request(method, P + url, headers=conditional))
                assert not_modified[0] == 304
                for _ in range(2):
                    assert _answer(await cached.request(method, P + url, headers=conditional)) == not_modified
        cache = app.answer_cache
        assert cache.hits > len(URLS) * len(HEADER_SETS) / 2
        assert len(cache) > 0
        recorded_paths = {key[0].decode() for key in cache._answers}
        assert P + "/image_generation/deletion-risk/stable_diffusion" in recorded_paths  # full-stack route
        assert P + "/text_generation/deletion-risk" in recorded_paths  # fast-lane route
        # Errors are never recorded: every answer kept is a 200 or a 304 of a materialised view.
        statuses = {answer.start["status"] for answer in cache._answers.values()}
        assert statuses <= {200, 304}
        metrics = (await cached.get("/metrics")).text
        assert 'route="/model_references/statistics/{category}/with-stats",status="304"' in metrics


async def _copy_current(
    source: GenerationStore, target: GenerationStore
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The filled image generation, written under another prefix as the worker writes one."""
    current = await source.current(IMAGE)
    assert current is not None
    members = await source.redis.smembers(source.keys.views_of_generation(IMAGE, current.generation))
    marker = f":{current.generation}:"
    names = [m.decode().split(marker, 1)[1] for m in members]
    views = {name: await source.view(IMAGE, current.generation, name) for name in names}
    assert all(body is not None for body in views.values())
    bodies = {name: body for name, body in views.items() if body is not None}
    assert await target.write(IMAGE, current.generation, bodies, current.basis) == "written"
    return bodies, current.basis


async def test_a_new_generation_ends_replays_on_the_next_request(filled: Filled) -> None:  # noqa: F811
    settings = _settings(filled, answer_cache=True)
    settings.redis.key_prefix = f"replay-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(settings.redis.url)
    source = GenerationStore(redis, RedisKeys(filled.settings.redis.key_prefix), superseded_ttl_seconds=60)
    target = GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)
    try:
        views, basis = await _copy_current(source, target)
        async with gateway(settings) as (app, client):
            url = P + "/image_generation/with-stats"
            first = await client.get(url)
            assert (await client.get(url)).headers["x-generation"] == first.headers["x-generation"]
            assert app.answer_cache is not None
            assert app.answer_cache.hits >= 1
            newer = {**basis, "status_at_ms": str(int(basis["status_at_ms"]) + 60_000)}
            assert await target.write(IMAGE, "second-generation", views, newer) == "written"
            deadline = time.monotonic() + 5
            while (answer := await client.get(url)).headers["x-generation"] != "second-generation":
                assert time.monotonic() < deadline, "the replayed answer outlived its generation"
                await asyncio.sleep(0.01)
            assert answer.headers["x-horde-snapshot-at"] == str(int(newer["status_at_ms"]) // 1000)
            for _ in range(3):  # and never the old one again
                assert (await client.get(url)).headers["x-generation"] == "second-generation"
    finally:
        await redis.aclose()


async def test_a_replayed_fresh_answer_turns_stale_on_time(filled: Filled) -> None:  # noqa: F811
    settings = _settings(filled, answer_cache=True)
    async with gateway(settings) as (_, probe):
        headers = (await probe.get(P + "/image_generation/with-stats")).headers
    latest = max(int(headers["x-horde-snapshot-at"]), int(headers.get("x-horde-confirmed-at", "0")))
    settings.analytics.stale_after_seconds = time.time() - latest + 1.5  # stale 1.5 s from now
    async with gateway(settings) as (app, client):
        url = P + "/image_generation/deletion-risk?limit=1"
        assert (await client.get(url)).json()["freshness"]["stale"] is False
        assert (await client.get(url)).json()["freshness"]["stale"] is False
        await asyncio.sleep(max(0.0, latest + settings.analytics.stale_after_seconds - time.time()) + 0.05)
        turned = await client.get(url)
        assert turned.json()["freshness"]["stale"] is True
        assert turned.headers["x-data-stale"] == "true"
        assert app.answer_cache is not None
        hits = app.answer_cache.hits
        assert (await client.get(url)).json()["freshness"]["stale"] is True  # replayed as stale now
        assert app.answer_cache.hits == hits + 1
