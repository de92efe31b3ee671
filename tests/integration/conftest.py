"""Fixtures of the integration tests: an isolated analytics setup per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.kafka import ensure_topics
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import ALL_TOPICS
from tests.support.analytics import worker_settings
from tests.support.kafka_broker import KafkaInfo


@pytest.fixture
async def settings(kafka: KafkaInfo, redis_url: str, unique: str) -> Settings:
    """Worker settings isolated by topic prefix, key prefix and group; topics created."""
    chosen = worker_settings(kafka, redis_url, unique)
    await ensure_topics(chosen.kafka, tuple(s.with_prefix(chosen.kafka.topic_prefix) for s in ALL_TOPICS))
    return chosen


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[GenerationStore]:
    """A reader of the test's generations."""
    redis = Redis.from_url(settings.redis.url)
    yield GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)
    await redis.aclose()
