"""Fenced writes (issue 13): once a newer owner has been assigned a category, the pointer swap and
the ownership check of an older owner are refused, in the same Lua script as the swap."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.store.fencing import OwnerFence
from shared.store.generations import GenerationStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
IMAGE = ModelCategory.IMAGE_GENERATION
BASIS = {"reference_seq": "1", "status_at_ms": "1", "stats_at_ms": "1", "workers_at_ms": "1"}


async def test_a_zombie_owner_cannot_swap_the_pointer_after_a_newer_claim(redis: Redis, unique: str) -> None:
    keys = RedisKeys(f"fence{unique}")
    store = GenerationStore(redis, keys, superseded_ttl_seconds=60)
    fences = OwnerFence(redis, keys)
    zombie = await fences.claim(IMAGE)
    owner = await fences.claim(IMAGE)
    assert owner.token > zombie.token

    assert (
        await store.write(IMAGE, "g-new", {"v": b"{}"}, BASIS | {"status_at_ms": "2"}, fence=owner)
        == "written"
    )
    assert await store.write(IMAGE, "g-old", {"v": b"{}"}, BASIS, fence=zombie) == "fenced"
    current = await store.current(IMAGE)
    assert current is not None
    assert current.generation == "g-new"
    assert current.basis["owner_epoch"] == str(owner.token)
    assert await fences.holds(owner)
    assert not await fences.holds(zombie)


async def test_the_owner_keeps_writing_after_redis_lost_its_token(redis: Redis, unique: str) -> None:
    """FLUSHDB drops the owner key: the owner's next write sets it again and goes through."""
    keys = RedisKeys(f"fence{unique}")
    store = GenerationStore(redis, keys, superseded_ttl_seconds=60)
    fences = OwnerFence(redis, keys)
    owner = await fences.claim(IMAGE)
    await redis.delete(keys.owner(IMAGE))
    assert await store.write(IMAGE, "g1", {"v": b"{}"}, BASIS, fence=owner) == "written"
    assert await redis.get(keys.owner(IMAGE)) == str(owner.token).encode()
    await redis.delete(keys.owner(IMAGE))
    assert await fences.holds(owner)
    assert await redis.get(keys.owner(IMAGE)) == str(owner.token).encode()


async def test_an_unfenced_write_is_unchanged(redis: Redis, unique: str) -> None:
    """Writers without a fence (tools, benches) swap as before."""
    keys = RedisKeys(f"fence{unique}")
    store = GenerationStore(redis, keys, superseded_ttl_seconds=60)
    assert await store.write(IMAGE, "g1", {"v": b"{}"}, BASIS) == "written"
    current = await store.current(IMAGE)
    assert current is not None
    assert "owner_epoch" not in current.basis
