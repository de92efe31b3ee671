"""The gateway's Redis stream of risk-change events, one per category (fed by the analytics worker).

Entries are added with the writer's fence (``shared.store.fencing``) checked in the same script,
so a resumed zombie owner cannot add one; writers without a fence (tools) add unconditionally.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.store.fencing import Fence, OwnerFence

#: Entries kept per category (approximately: trimmed by Redis in whole nodes).
STREAM_LENGTH = 1000


class RiskEventStream:
    """Appends risk-change events to the per-category streams under one key prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, length: int = STREAM_LENGTH) -> None:
        self.redis = redis
        self.keys = keys
        self.length = length
        #: The categories' fencing tokens, also checked before each Kafka record of an event.
        self.fences = OwnerFence(redis, keys)

    async def append(
        self, category: ModelCategory, fields: Mapping[str, str], *, fence: Fence | None
    ) -> bool:
        """Add one event; ``False`` when ``fence`` no longer holds (nothing was added)."""
        key = self.keys.risk_events(category)
        if fence is not None:
            return await self.fences.xadd(fence, key, fields, maxlen=self.length)
        await self.redis.xadd(key, dict(fields), maxlen=self.length, approximate=True)  # type: ignore[arg-type]
        return True
