"""Generations are ordered by input offsets, and offsets of a grown partition count are offsets in
other partitions: the count the inputs were read under orders them first (issue 15)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.store.generations import GenerationStore

pytestmark = pytest.mark.integration

TEXT = ModelCategory.TEXT_GENERATION


def basis(partitions: int | None, status_seq: int) -> dict[str, str]:
    chosen = {"reference_seq": "0", "status_seq": str(status_seq), "stats_seq": "0", "workers_seq": "0"}
    return chosen if partitions is None else chosen | {"partitions": str(partitions)}


async def test_a_larger_partition_count_is_newer_whatever_the_offsets(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    store = GenerationStore(redis, RedisKeys(f"order{unique}"), superseded_ttl_seconds=60)
    try:
        assert await store.write(TEXT, "before", {"v": b"1"}, basis(None, 90)) == "written"
        assert await store.write(TEXT, "on-4", {"v": b"2"}, basis(4, 100)) == "written"
        # text_generation moved from partition 2 to 4: its records start again at small offsets.
        assert await store.write(TEXT, "on-8", {"v": b"3"}, basis(8, 3)) == "written"
        assert await store.write(TEXT, "late-replica", {"v": b"4"}, basis(4, 200)) == "older"
        assert await store.write(TEXT, "replay", {"v": b"5"}, basis(8, 2)) == "older"
        assert await store.write(TEXT, "next", {"v": b"6"}, basis(8, 4)) == "written"
        current = await store.current(TEXT)
        assert current is not None
        assert current.generation == "next"
    finally:
        await redis.aclose()
