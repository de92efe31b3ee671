"""Materialised views stored as immutable generations with an atomic pointer swap.

Writer: SET every view of the new generation (with a TTL, so a writer that dies half-way leaves
nothing behind), then one Lua script swaps the category's ``current`` hash to the new
generation, makes its views permanent and gives the superseded generation a TTL. The swap is
refused when the new basis is older than the current one on any input (a replay or a lagging
replica can never move a category back in time) and is a no-op when the generation is the
current one (replays leave Redis unchanged). "Older" compares the Kafka offsets of the input
records (``*_seq``), never the producers' clocks: one record dated in the future must not make
every later one look older. Readers resolve ``current`` first and read views
of that generation only, so they see the whole old or the whole new generation, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.redis_keys import RedisKeys
from shared.store.basis import GenerationBasis
from shared.store.fencing import Fence, OwnerFence

#: Basis fields compared by the swap: a new generation must not be older on any of them. Each is
#: the offset of an input record in its partition; a pointer written before these existed lacks
#: them (read as -1), so the first generation of the new rule always replaces it. The first,
#: ``partitions``, is the partition count the inputs were read under: offsets of different counts
#: are offsets in different partitions, so a larger count is newer whatever the offsets (Kafka
#: counts only grow; README "Scaling").
MONOTONIC_FIELDS = ("partitions", "reference_seq", "status_seq", "stats_seq", "workers_seq")

#: Added in front of the swap when the writer is fenced: KEYS[3] is the owner key and the last
#: basis pair is ``owner_epoch`` with the writer's token (so ``ARGV[#ARGV]`` is the token).
_FENCE_CHECK = """
if KEYS[3] then
  local held = redis.call('GET', KEYS[3])
  if held and held ~= ARGV[#ARGV] then return -2 end
  if not held then redis.call('SET', KEYS[3], ARGV[#ARGV]) end
end
"""

_SWAP = """
local current = KEYS[1]
local new_views = KEYS[2]
local new_gen = ARGV[1]
local ttl = tonumber(ARGV[2])
local old_gen = redis.call('HGET', current, 'generation')
if old_gen == new_gen then return 0 end
local nfields = tonumber(ARGV[3])
for i = 0, nfields - 1 do
  local name = ARGV[4 + i * 2]
  local value = tonumber(ARGV[5 + i * 2])
  local existing = tonumber(redis.call('HGET', current, name) or '-1')
  if i == 0 and value > existing then break end
  if value < existing then return -1 end
end
local pairs_start = 4 + nfields * 2
for _, key in ipairs(redis.call('SMEMBERS', new_views)) do redis.call('PERSIST', key) end
redis.call('PERSIST', new_views)
if old_gen then
  local old_views = string.gsub(new_views, new_gen .. '$', old_gen)
  for _, key in ipairs(redis.call('SMEMBERS', old_views)) do redis.call('EXPIRE', key, ttl) end
  redis.call('EXPIRE', old_views, ttl)
end
redis.call('DEL', current)
redis.call('HSET', current, 'generation', new_gen, unpack(ARGV, pairs_start))
return 1
"""

SwapOutcome = Literal["written", "unchanged", "older", "fenced"]


@dataclass(frozen=True, slots=True)
class CurrentGeneration:
    """The pointer a reader resolves: generation id plus its basis (all values as strings)."""

    generation: str
    basis: dict[str, str]


class GenerationStore:
    """Reads and writes view generations of every category under one key prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, superseded_ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = superseded_ttl_seconds
        self._swap = redis.register_script(_FENCE_CHECK + _SWAP)
        #: The categories' fencing tokens (same client and prefix as the generations they guard).
        self.fences = OwnerFence(redis, keys)

    async def write(
        self,
        category: ModelCategory,
        generation: str,
        views: Mapping[str, bytes],
        basis: GenerationBasis | Mapping[str, str],
        *,
        fence: Fence | None = None,
    ) -> SwapOutcome:
        """Write all views of ``generation`` and make it current atomically; ``"fenced"`` when
        ``fence`` is given and a newer owner holds the category. ``basis`` is the worker's typed
        basis, or pointer fields as read back (tools and tests re-writing a pointer)."""
        if isinstance(basis, GenerationBasis):
            basis = basis.to_fields()
        current = await self.current(category)
        if current is not None and current.generation == generation:
            return "unchanged"
        views_key = self.keys.views_of_generation(category, generation)
        pipe = self.redis.pipeline(transaction=False)
        for name, body in views.items():
            pipe.set(self.keys.view(category, generation, name), body, ex=self.ttl)
        pipe.delete(views_key)
        pipe.sadd(views_key, *(self.keys.view(category, generation, name) for name in views))
        pipe.expire(views_key, self.ttl)
        await pipe.execute()
        monotonic = [(f, basis.get(f, "-1")) for f in MONOTONIC_FIELDS]
        if fence is not None:
            basis = {k: v for k, v in basis.items() if k != "owner_epoch"} | {"owner_epoch": str(fence.token)}
        flat_basis = [item for pair in basis.items() for item in pair]
        args: list[str | int] = [generation, self.ttl, len(monotonic)]
        for name, value in monotonic:
            args.extend((name, value))
        args.extend(flat_basis)
        keys = [self.keys.current(category), views_key] + ([fence.key] if fence is not None else [])
        result = await self._swap(keys=keys, args=args)
        outcomes: dict[int, SwapOutcome] = {1: "written", 0: "unchanged", -1: "older", -2: "fenced"}
        outcome = outcomes[int(result)]
        if outcome == "written":
            await self.announce(category)
        return outcome

    async def write_source_health(
        self, category: ModelCategory, endpoints: Mapping[str, str], *, reference: str | None = None
    ) -> None:
        """Set the category's source-health fields: one JSON per AI Horde endpoint (announced to
        the readers) and the reference source's (field ``reference``, read by the heartbeat)."""
        key = self.keys.source_health(category)
        if endpoints:
            await self.redis.hset(key, mapping=dict(endpoints))  # type: ignore[arg-type]
            await self.announce(category)
        if reference is not None:
            await self.redis.hset(key, "reference", reference)

    async def written_state(self, categories: Sequence[ModelCategory]) -> list[tuple[str | None, bool]]:
        """Per category, in one round trip: the current generation id (``None``: no pointer) and
        whether its source health exists (what a writer checks to heal a lost Redis)."""
        pipe = self.redis.pipeline(transaction=False)
        for category in categories:
            pipe.hget(self.keys.current(category), "generation")
            pipe.exists(self.keys.source_health(category))
        found = await pipe.execute()
        return [
            (None if raw is None else as_text(raw), bool(exists))
            for raw, exists in zip(found[::2], found[1::2], strict=True)
        ]

    async def announce(self, category: ModelCategory) -> None:
        """Tell readers that cache the pointer (the gateway) that ``category`` changed."""
        await self.redis.publish(self.keys.changes_channel(), category.value)

    async def current(self, category: ModelCategory) -> CurrentGeneration | None:
        """The category's current generation, or ``None`` before the first one."""
        raw: dict[bytes | str, bytes | str] = await self.redis.hgetall(self.keys.current(category))
        if not raw:
            return None
        decoded = {as_text(k): as_text(v) for k, v in raw.items()}
        generation = decoded.pop("generation")
        return CurrentGeneration(generation, decoded)

    async def view(self, category: ModelCategory, generation: str, name: str) -> bytes | None:
        """One view body of a generation (``None`` if that generation expired or lacks the view)."""
        value: bytes | str | None = await self.redis.get(self.keys.view(category, generation, name))
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else value


def as_text(value: bytes | str) -> str:
    """A Redis reply as text, whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value
