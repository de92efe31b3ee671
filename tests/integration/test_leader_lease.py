"""The Redis leader lease against a real Redis: exclusion, fencing tokens, compare-and-extend,
the local deadline of a paused holder, and the ``lead`` loop handing work over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.leader import TOKEN_HEADER, LeaderLease, NotLeaderError, lead, lease_headers
from shared.redis_keys import RedisKeys
from shared.settings import LeaderSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` (bounded): the lease loop runs in tasks this test cannot await."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the condition is plain state, not an event
            await asyncio.sleep(0.05)


def lease_for(
    redis: Redis, prefix: str, holder: str, clock: Callable[[], float] = time.monotonic
) -> LeaderLease:
    settings = LeaderSettings(lease_seconds=5, renew_interval_seconds=1)
    return LeaderLease(redis, RedisKeys(prefix), "poller", settings, holder=holder, clock=clock)


async def test_one_holder_at_a_time_with_increasing_tokens(redis: Redis, unique: str) -> None:
    a, b = lease_for(redis, unique, "a"), lease_for(redis, unique, "b")
    assert await a.try_acquire()
    assert not await b.try_acquire()
    first = a.token
    assert first is not None
    assert await a.confirm() == first
    assert await lease_headers(a) == {TOKEN_HEADER: str(first)}
    assert await a.renew()
    await a.release()
    with pytest.raises(NotLeaderError):
        await a.confirm()
    assert await b.try_acquire()
    assert b.token is not None
    assert b.token > first
    assert not await a.renew()  # compare-and-extend: the value is b's now


async def test_a_paused_holder_stops_at_its_local_deadline_and_is_fenced(redis: Redis, unique: str) -> None:
    clock = Clock()
    a = lease_for(redis, unique, "a", clock=clock)
    assert await a.try_acquire()
    clock.now += 5.0  # the process was stopped for a whole lease
    assert not a.held()
    with pytest.raises(NotLeaderError):
        await a.confirm()


async def test_a_holder_whose_lease_was_taken_is_fenced(redis: Redis, unique: str) -> None:
    a, b = lease_for(redis, unique, "a"), lease_for(redis, unique, "b")
    assert await a.try_acquire()
    await redis.delete(RedisKeys(unique).leader_lease("poller"))  # as if it had expired in Redis
    assert await b.try_acquire()
    assert a.held()  # its own clock cannot know yet ...
    with pytest.raises(NotLeaderError):
        await a.confirm()  # ... but the fence asks Redis


async def test_a_flushed_lease_is_taken_again_by_its_holder_with_a_larger_token(
    redis: Redis, unique: str
) -> None:
    """FLUSHDB (or Redis restarted empty) removes the lease and the token counter: the holder,
    still within its deadline, takes the lease again on renewal (its work goes on), and the new
    token is larger than every earlier one because the counter restarts from Redis's clock."""
    a, b = lease_for(redis, unique, "a"), lease_for(redis, unique, "b")
    assert await a.try_acquire()
    first = a.token
    assert first is not None
    keys = RedisKeys(unique)
    await asyncio.sleep(0.01)  # the reseeded counter counts from a later millisecond
    await redis.delete(keys.leader_lease("poller"), keys.leader_token("poller"))
    assert await a.renew()
    assert a.token is not None
    assert a.token > first
    assert await a.confirm() == a.token
    assert not await b.try_acquire()


async def test_lead_runs_the_work_only_while_leading_and_releases_on_stop(redis: Redis, unique: str) -> None:
    settings = LeaderSettings(lease_seconds=1.0, renew_interval_seconds=0.2)
    keys = RedisKeys(unique)
    a = LeaderLease(redis, keys, "poller", settings, holder="a")
    b = LeaderLease(redis, keys, "poller", settings, holder="b")
    running: dict[str, int] = {"a": 0, "b": 0}

    def work_of(name: str) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
        async def work(term_stop: asyncio.Event) -> None:
            running[name] += 1
            try:
                await term_stop.wait()
            finally:
                running[name] -= 1

        return work

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(lead(a, stop_a, work_of("a")))
    await until(lambda: running["a"] == 1)
    task_b = asyncio.create_task(lead(b, stop_b, work_of("b")))
    await asyncio.sleep(1.0)  # several renewals and several standby attempts
    assert running == {"a": 1, "b": 0}

    stop_a.set()  # graceful stop releases the lease: b takes over without waiting for expiry
    await asyncio.wait_for(task_a, 10)
    await until(lambda: running["b"] == 1)
    assert running == {"a": 0, "b": 1}

    # b loses its lease to an intruder: its work is stopped within the renew interval.
    await redis.set(keys.leader_lease("poller"), "intruder|999999", px=60_000)
    await until(lambda: running["b"] == 0)
    stop_b.set()
    await asyncio.wait_for(task_b, 10)
    assert await redis.get(keys.leader_lease("poller")) == b"intruder|999999"  # never deletes another's
