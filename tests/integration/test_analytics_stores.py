"""The store calls the analytics worker makes (issue 15: the store owns every Redis call), against
the real Redis: source health, the verification read, the risk-event stream, and a typed basis
written and read back byte-identically."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.settings import RedisSettings
from shared.store.analytics import AnalyticsStores
from shared.store.basis import GenerationBasis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
IMAGE = ModelCategory.IMAGE_GENERATION
TEXT = ModelCategory.TEXT_GENERATION
BASIS = GenerationBasis(
    computed_at=5, reference_version="v1", reference_detected_at_ms=4000, reference_seq=2, status_at_ms=3000,
    stats_at_ms=0, workers_at_ms=0, status_seq=1, status_hash="s", view_schema=9, reference_models=3,
)  # fmt: skip


@pytest.fixture
async def stores(redis_url: str, unique: str) -> AsyncIterator[tuple[AnalyticsStores, Redis, RedisKeys]]:
    settings = RedisSettings(url=redis_url, key_prefix=f"stores{unique}")
    opened = AnalyticsStores.open(settings)
    raw = Redis.from_url(redis_url)
    yield opened, raw, RedisKeys(settings.key_prefix)
    await raw.aclose()
    await opened.aclose()


async def test_a_typed_basis_is_stored_as_the_same_pointer_fields(
    stores: tuple[AnalyticsStores, Redis, RedisKeys],
) -> None:
    opened, raw, keys = stores
    fence = await opened.generations.fences.claim(IMAGE)
    assert await opened.generations.write(IMAGE, "g1", {"v": b"{}"}, BASIS, fence=fence) == "written"
    stored = {k.decode(): v.decode() for k, v in (await raw.hgetall(keys.current(IMAGE))).items()}
    assert stored == {"generation": "g1", **BASIS.to_fields(), "owner_epoch": str(fence.token)}
    current = await opened.generations.current(IMAGE)
    assert current is not None
    assert GenerationBasis.from_fields(current.basis) == BASIS
    assert await opened.ping()


async def test_source_health_and_the_verification_read(
    stores: tuple[AnalyticsStores, Redis, RedisKeys],
) -> None:
    opened, raw, keys = stores
    generations = opened.generations
    assert await generations.written_state([IMAGE, TEXT]) == [(None, False), (None, False)]
    pubsub = raw.pubsub()
    await pubsub.subscribe(keys.changes_channel())
    await generations.write_source_health(IMAGE, {"status": '{"ok":true}'}, reference='{"ok":false}')
    await generations.write_source_health(TEXT, {}, reference='{"ok":true}')
    assert await raw.hgetall(keys.source_health(IMAGE)) == {
        b"status": b'{"ok":true}',
        b"reference": b'{"ok":false}',
    }
    assert await raw.hgetall(keys.source_health(TEXT)) == {b"reference": b'{"ok":true}'}
    announced = []
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            announced.append(message["data"])
        if announced:
            break
    assert announced == [IMAGE.value.encode()], "endpoint health is announced; the reference's alone is not"
    await pubsub.aclose()
    await generations.write(IMAGE, "g1", {"v": b"{}"}, BASIS)
    assert await generations.written_state([IMAGE, TEXT]) == [("g1", True), (None, True)]


async def test_risk_events_are_appended_only_while_the_fence_holds(
    stores: tuple[AnalyticsStores, Redis, RedisKeys],
) -> None:
    opened, raw, keys = stores
    stream = opened.risk_events
    zombie = await stream.fences.claim(IMAGE)
    owner = await stream.fences.claim(IMAGE)
    assert await stream.append(IMAGE, {"id": "a"}, fence=owner)
    assert not await stream.append(IMAGE, {"id": "b"}, fence=zombie)
    assert await stream.append(IMAGE, {"id": "c"}, fence=None)
    entries = await raw.xrange(keys.risk_events(IMAGE))
    assert [fields[b"id"] for _, fields in entries] == [b"a", b"c"]
