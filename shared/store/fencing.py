"""Fencing tokens: a category's writes are accepted only from the worker that owns it now.

Ownership follows the consumer group, but a worker learns that it lost a category only when its
rebalance callback runs. A worker paused for longer than the session timeout (a long GC pause, a
frozen VM, SIGSTOP) resumes believing it still owns its categories while another worker already
writes them. So every assignment takes a new token per category (``INCR`` of the category's
owner key): the newest assignment holds the highest token. The generation swap compares the
writer's token with the key in the same Lua script (``GenerationStore.write``), and the risk
publisher checks it before each model's events (``OwnerFence.holds``): a resumed zombie's token
is lower, so its pointer swap and its events are refused.

When Redis lost the key (FLUSHDB, restart without persistence) the next writer's token is taken
as the owner's again: the owner rewrites what Redis lost within seconds, and a zombie would have
to resume in that same window. Likewise a worker whose assignment could not reach Redis takes
its token at its first write. The check and a risk event's send are two steps: a worker paused
exactly between them sends that one model's events late (consumers drop them by ``sequence``),
unless Kafka fences it too (transactional producers per partition, on Apache Kafka:
``services.analytics.partition_producers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys

#: 1 when ``ARGV[1]`` is the token in ``KEYS[1]`` (or the key is missing: it is set again), else 0.
_HOLDS = """
local held = redis.call('GET', KEYS[1])
if not held then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
if held == ARGV[1] then return 1 end
return 0
"""

#: XADD to ``KEYS[2]`` (capped near ``ARGV[2]`` entries, fields from ``ARGV[3]``) only while the
#: token ``ARGV[1]`` holds ``KEYS[1]``: 1 when added, 0 when refused.
_FENCED_XADD = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1
"""


@dataclass(frozen=True, slots=True)
class Fence:
    """A writer's claim on a category: the owner key and the token its assignment received."""

    key: str
    token: int


class OwnerFence:
    """Takes and checks the fencing tokens of categories under one key prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._holds = redis.register_script(_HOLDS)
        self._xadd = redis.register_script(_FENCED_XADD)

    async def claim(self, category: ModelCategory) -> Fence:
        """A new token for ``category``: every earlier holder is fenced off from now on."""
        key = self.keys.owner(category)
        return Fence(key, int(await self.redis.incr(key)))

    async def holds(self, fence: Fence) -> bool:
        """Whether ``fence`` is still the newest claim on its category."""
        return bool(int(await self._holds(keys=[fence.key], args=[str(fence.token)])))

    async def xadd(self, fence: Fence, stream: str, fields: Mapping[str, str], *, maxlen: int) -> bool:
        """Add ``fields`` to ``stream`` only while ``fence`` holds (checked in the same script)."""
        args = [str(fence.token), str(maxlen), *(item for pair in fields.items() for item in pair)]
        return bool(int(await self._xadd(keys=[fence.key, stream], args=args)))
