"""Writing a day's captures with a ``WrittenDay`` (only changed fields sent, issue 15) leaves Redis
exactly as writing every field each time does, across captures, reference events and a new day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.domain.history.rollup import CategoryDay, ReferenceEvent, add_reference_events, fold_capture
from shared.redis_keys import RedisKeys
from shared.store.history import HistoryStore, WrittenDay
from tests.unit.domain.history_builders import IMAGE, at, obs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
DAY = date(2026, 6, 1)


def _captures() -> list[tuple[CategoryDay, CategoryDay | None]]:
    """(roll-up after each capture, the day before) over two days: one model changes per capture,
    a reference version adds events mid-day, the second day starts from the first."""
    models = {f"m{i}": obs(workers=i % 3, total=10 * i, day=i) for i in range(12)}
    out: list[tuple[CategoryDay, CategoryDay | None]] = []
    held: CategoryDay | None = None
    before: CategoryDay | None = None
    for step in range(8):
        day = DAY if step < 5 else DAY + timedelta(days=1)
        if held is not None and held.day != day:
            before, held = held, None
        models = models | {f"m{step}": obs(workers=5 + step, total=100 + step, day=step)}
        held = fold_capture(held, category=IMAGE, captured_at=at(day, 1 + step), observations=models)
        if step in (2, 6):
            events = [
                ReferenceEvent(
                    model="m1", kind="changed", at=at(day, 1 + step), version=f"v{step}", fields=("x",)
                )
            ]
            held = add_reference_events(held, events)
        out.append((held, before))
    return out


async def _dump(redis: Redis, prefix: str) -> dict[str, dict[bytes, bytes]]:
    keys = sorted([k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")])
    return {key.removeprefix(prefix): await redis.hgetall(key) for key in keys}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_only_changed_fields_written_gives_the_same_keys_as_writing_all(
    redis: Redis, unique: str
) -> None:
    every, changed = (
        HistoryStore(redis, RedisKeys(f"a{unique}")),
        HistoryStore(redis, RedisKeys(f"b{unique}")),
    )
    written = WrittenDay()
    for rollup, before in _captures():
        await every.write_days([rollup], previous=before)
        await changed.write_days([rollup], previous=before, written=written)
        assert await _dump(redis, f"b{unique}") == await _dump(redis, f"a{unique}")
    assert written.day == DAY + timedelta(days=1)
    await every.clear(IMAGE)
    await changed.clear(IMAGE)


async def test_a_field_holding_the_same_json_is_not_sent_again(redis: Redis, unique: str) -> None:
    """The saving itself: an unchanged model's point is skipped (a marker put there stays)."""
    store = HistoryStore(redis, RedisKeys(f"c{unique}"))
    written = WrittenDay()
    (first, _), (second, _) = _captures()[:2]
    await store.write_days([first], written=written)
    untouched = store.keys.history_model(IMAGE, "m5")  # capture 2 changes m1 only
    await redis.hset(untouched, DAY.isoformat(), "marker")
    await store.write_days([second], written=written)
    assert await redis.hget(untouched, DAY.isoformat()) == b"marker"
    assert await redis.hget(store.keys.history_model(IMAGE, "m1"), DAY.isoformat()) != b"marker"
    await store.clear(IMAGE)


async def test_a_failed_write_forgets_what_it_noted(redis: Redis, unique: str) -> None:
    """What a failed write noted may never have reached Redis: the next write sends every field."""
    written = WrittenDay()
    (first, _), (second, _) = _captures()[:2]
    store = HistoryStore(redis, RedisKeys(f"d{unique}"))
    await store.write_days([first], written=written)
    away = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens on port 1
    try:
        with pytest.raises(RedisConnectionError):
            await HistoryStore(away, RedisKeys(f"d{unique}")).write_days([second], written=written)
    finally:
        await away.aclose()
    assert written.day is None
    assert written.fields == {}
    untouched = store.keys.history_model(IMAGE, "m5")
    await redis.hset(untouched, DAY.isoformat(), "marker")
    await store.write_days([second], written=written)
    assert await redis.hget(untouched, DAY.isoformat()) != b"marker"
    await store.clear(IMAGE)
