"""The analytics worker's stores over one Redis client: the only place its client and keys meet.

Everything the worker writes to Redis (generations and source health, fencing tokens, the daily
history, the risk-event streams) goes through these objects; the service itself never sees the
client (``tests/unit/analytics/test_store_boundary.py`` keeps it that way).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.redis_keys import RedisKeys
from shared.settings import RedisSettings
from shared.store.connection import open_redis
from shared.store.generations import GenerationStore
from shared.store.history import HistoryStore
from shared.store.risk_stream import RiskEventStream


@dataclass(frozen=True)
class AnalyticsStores:
    """The worker's Redis-backed stores, sharing one client and one key prefix."""

    generations: GenerationStore
    history: HistoryStore
    risk_events: RiskEventStream
    _redis: Redis

    @classmethod
    def open(cls, settings: RedisSettings) -> AnalyticsStores:
        redis = open_redis(settings)
        keys = RedisKeys(settings.key_prefix)
        return cls(
            generations=GenerationStore(redis, keys, superseded_ttl_seconds=settings.generation_ttl_seconds),
            history=HistoryStore(redis, keys),
            risk_events=RiskEventStream(redis, keys),
            _redis=redis,
        )

    async def ping(self) -> bool:
        """Whether Redis answers (the readiness probe)."""
        return bool(await self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()
