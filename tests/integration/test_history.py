"""Daily history on the real broker and Redis: a month of daily snapshots with known changes.

The month is generated from the recorded data (the image reference and the synthetic status and
stats): every model keeps its recorded workers and daily usage, except the chosen ones:
``Yiffy`` loses its last worker on 2026-10-11, ``Comic-Diffusion`` drops from 100 uses a day to 10
on 2026-10-23, ``Gamma New`` is added to the reference on 2026-10-06, and the poller is down on
2026-10-20 and 2026-10-21 (no snapshot: a gap). The worker is stopped after 2026-10-15 and a new
one continues; Redis's history is wiped at the end and rebuilt from Kafka. The lifecycle fields
are computed from what Redis holds, with the clock passed in (today = 2026-10-30).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.domain.history.lifecycle import LifecycleFields, compute_lifecycle
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.history.reference_events import first_seen, parse_mod_data, watcher_first_seen
from shared.domain.history.rollup import ReferenceEvent
from shared.domain.history.series import DayPoint
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.dead_letter import HEADER_NAMES
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.store.history import HistoryStore
from shared.topics import HISTORY_DAILY, partition_for
from tests.support.analytics import publish_input, read_topic, running_worker
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
IMAGE = ModelCategory.IMAGE_GENERATION
FIRST = date(2026, 10, 1)
TODAY = date(2026, 10, 30)
GAP = {date(2026, 10, 20), date(2026, 10, 21)}
UNSERVED, DECLINING, NEW, GOLDEN = "Yiffy", "Comic-Diffusion", "Gamma New", "stable_diffusion"
REFERENCE = DATA / "reference/image/stable_diffusion.json"


def _noon(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _usage(name: str, day: date, recorded: int) -> int:
    if name == DECLINING:
        return 100 if day < date(2026, 10, 23) else 10
    return 50 if name == UNSERVED else recorded


class Month:
    """The generated month: per day one status and one stats snapshot (two on 2026-10-04)."""

    def __init__(self, reference_v2: Path) -> None:
        status = synthetic("status_models_image.json")
        assert isinstance(status, list)
        self.status: list[dict[str, object]] = status
        stats = synthetic("stats_models_image.json")
        assert isinstance(stats, dict)
        self.day_usage: dict[str, int] = dict(stats["day"])
        self.month_usage: dict[str, int] = dict(stats["month"], **{UNSERVED: 1500, DECLINING: 3000})
        self.totals: dict[str, int] = dict(stats["total"])
        self.reference_v2 = reference_v2

    def stats(self, day: date) -> dict[str, object]:
        names = set(self.day_usage) | {UNSERVED, DECLINING}
        today = {n: _usage(n, day, self.day_usage.get(n, 0)) for n in names}
        for name, used in today.items():
            self.totals[name] = self.totals.get(name, 0) + used
        return {"day": today, "month": self.month_usage, "total": dict(self.totals)}

    def status_of(self, day: date, *, late: bool = False) -> list[dict[str, object]]:
        entries = []
        for entry in self.status:
            count = entry["count"]
            if entry["name"] == UNSERVED and (day >= date(2026, 10, 11) or late):
                count = 0
            # Its queue changes every day, so every day's status is new content the worker takes.
            queued = float(day.day) if entry["name"] == UNSERVED else entry["queued"]
            entries.append(dict(entry, count=count, queued=queued))
        return entries


async def _until(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    async def poll() -> None:
        while True:
            if await check():
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), within)


async def _captures(history: HistoryStore, day: date) -> int:
    point = (await history.summary(IMAGE, day, day))[0]
    return point.captures or 0


async def _publish_and_wait(settings: Settings, history: HistoryStore, day: date, event: object) -> None:
    """Publish one snapshot and wait until the worker folded it (one more capture of the day)."""
    held = await _captures(history, day)
    await publish_input(settings, event)  # type: ignore[arg-type]
    try:
        await _until(lambda: _captures_above(history, day, held))
    except TimeoutError:
        point = (await history.summary(IMAGE, day, day))[0]
        pytest.fail(f"{day}: capture {held + 1} not recorded: {point}, meta {await history.meta(IMAGE)}")


async def _captures_above(history: HistoryStore, day: date, held: int) -> bool:
    return await _captures(history, day) > held


async def _feed_day(settings: Settings, month: Month, history: HistoryStore, day: date) -> None:
    """Per day a status (13:00) and a stats (13:30) capture; 2026-10-04 has a third (18:00)."""
    if day == date(2026, 10, 6):
        changed = reference_event(IMAGE, month.reference_v2, detected_at=_noon(day, 6))
        await publish_input(settings, changed.model_copy(update={"previous_version": "v1", "added": (NEW,)}))
    status = status_event(month.status_of(day), captured_at=_noon(day, 13))
    if day == FIRST:  # no stats yet: no runtime views, nothing to record
        await publish_input(settings, status)
    else:
        await _publish_and_wait(settings, history, day, status)
    stats = stats_event(month.stats(day), captured_at=_noon(day, 13) + timedelta(minutes=30))
    await _publish_and_wait(settings, history, day, stats)
    if day == date(2026, 10, 4):  # the unserved model has no worker for this one poll
        late = status_event(month.status_of(day, late=True), captured_at=_noon(day, 18))
        await _publish_and_wait(settings, history, day, late)


async def _history_keys(redis: Redis, keys: RedisKeys) -> dict[str, dict[bytes | str, bytes | str]]:
    found: dict[str, dict[bytes | str, bytes | str]] = {}
    async for key in redis.scan_iter(match=keys.history_pattern(IMAGE)):
        name = key.decode()
        if not name.endswith(":meta"):
            found[name] = await redis.hgetall(name)
    return found


async def _model(history: HistoryStore, name: str) -> tuple[list[DayPoint], list[ReferenceEvent]]:
    found = await history.model_history(IMAGE, name, FIRST, TODAY)
    assert found is not None, name
    return found


async def _risk_entry(store: GenerationStore, name: str) -> ModelDeletionRiskInfo:
    current = await store.current(IMAGE)
    assert current is not None
    body = await store.view(IMAGE, current.generation, "deletion-risk")
    assert body is not None
    return ModelDeletionRiskInfo.model_validate(
        next(m for m in json.loads(body)["models"] if m["name"] == name)
    )


async def test_a_month_of_snapshots_gives_the_expected_history_and_lifecycle(
    settings: Settings, store: GenerationStore, tmp_path: Path
) -> None:
    """D-free: the issue's "done when" for history (restart mid-month, wiped Redis, dead letter)."""
    records = json.loads(REFERENCE.read_text())
    records[NEW] = dict(records[DECLINING], name=NEW)
    reference_v2 = tmp_path / "stable_diffusion.json"
    reference_v2.write_text(json.dumps(records))
    month = Month(reference_v2)
    mod_data = str(DATA / "reference/image/model_mod_data.json")
    settings = settings.model_copy(
        update={"history": settings.history.model_copy(update={"mod_data_path": mod_data})}
    )
    redis = Redis.from_url(settings.redis.url)
    keys = RedisKeys(settings.redis.key_prefix)
    history = HistoryStore(redis, keys)
    days = [FIRST + timedelta(days=i) for i in range((TODAY - FIRST).days + 1)]
    try:
        await publish_input(settings, reference_event(IMAGE, REFERENCE, detected_at=_noon(FIRST, 6)))
        async with running_worker(settings):
            for day in days[:15]:
                await _feed_day(settings, month, history, day)
        # A malformed roll-up on the history topic: dead-lettered on the next rebuild, the rest rebuilds.
        topic = HISTORY_DAILY.with_prefix(settings.kafka.topic_prefix)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        async with producer:
            partition = partition_for(IMAGE, settings.kafka.topic_partitions)
            bad = b'{"category": "image_generation", "day": "someday"}'
            await producer.send_and_wait(
                topic.name, bad, key=b"image_generation/2026-09-01", partition=partition
            )
        async with running_worker(settings):
            for day in days[15:]:
                if day not in GAP:
                    await _feed_day(settings, month, history, day)
            before = await _history_keys(redis, keys)
            await redis.unlink(*before, keys.history_meta(IMAGE))
            await _until(lambda: history.is_built(IMAGE))
            after = await _history_keys(redis, keys)
        assert after == before

        dead = await read_topic(settings.kafka.bootstrap_servers, topic.dead_letter)
        assert len(dead) == 1
        assert dead[0][0] == b"image_generation/2026-09-01"
        assert "someday" in " ".join(dead[0][2].values()) or any(h in dead[0][2] for h in HEADER_NAMES)

        # Nothing lost or counted twice across the restart after 2026-10-15: 2 captures a day.
        summary = {p.day: p.captures for p in await history.summary(IMAGE, FIRST, TODAY)}
        assert summary == {
            d: None if d in GAP else 1 if d == FIRST else 3 if d == date(2026, 10, 4) else 2 for d in days
        }
        found = await history.model_history(IMAGE, UNSERVED, FIRST, TODAY)
        assert found is not None
        points, _ = found
        by_day = {p.day: p for p in points}
        assert all(not by_day[d].has_data and by_day[d].usage is None for d in GAP)  # a gap, never zeros
        served = [d for d in days if d not in GAP]
        assert all((by_day[d].workers_max or 0) > 0 for d in served if d < date(2026, 10, 11))
        assert all(by_day[d].workers_max == 0 for d in served if d >= date(2026, 10, 11))
        assert all(
            by_day[d].share_polls_with_workers == 1.0
            for d in served
            if d < date(2026, 10, 11) and d != date(2026, 10, 4)
        )
        assert by_day[date(2026, 10, 4)].share_polls_with_workers == 0.6667  # two of three polls had a worker
        assert by_day[date(2026, 10, 4)].queued_max == 4.0
        assert all(by_day[d].queued_max == float(d.day) for d in served)
        assert by_day[date(2026, 10, 4)].workers_min == 0
        assert {by_day[d].usage for d in days[1:] if d not in GAP and d - timedelta(days=1) not in GAP} == {
            50
        }

        policy = LifecyclePolicy()
        entry = await _risk_entry(store, UNSERVED)
        mod_dates, _ = parse_mod_data(json.loads((DATA / "reference/image/model_mod_data.json").read_text()))
        all_events = []
        for name in (UNSERVED, DECLINING, NEW, GOLDEN):
            held = await history.model_history(IMAGE, name, FIRST, TODAY)
            assert held is not None
            all_events.extend(held[1])
        watcher = watcher_first_seen(all_events)

        def fields(name: str, entry: ModelDeletionRiskInfo, points: list[DayPoint]) -> LifecycleFields:
            return compute_lifecycle(
                entry, points, first_seen=first_seen(name, mod_dates, watcher), today=TODAY, policy=policy,
                low_usage_threshold=0.0065, preferred_hosts=("huggingface.co",),
            )  # fmt: skip

        unserved = fields(UNSERVED, entry, points)
        assert unserved.zero_workers_since == date(2026, 10, 11)
        assert unserved.days_at_risk == 19
        assert unserved.at_risk_since == date(2026, 10, 11)
        assert unserved.first_seen_source == "model_mod_data"
        assert (
            "no worker has served it for 19 days, since 2026-10-11 (no data 2026-10-20 to 2026-10-21)"
            in unserved.reasons
        )
        assert unserved.lifecycle_state == "deletion_candidate"

        declining_points = (await _model(history, DECLINING))[0]
        declining = fields(DECLINING, await _risk_entry(store, DECLINING), declining_points)
        trend = declining.usage_trend
        assert (trend.direction, trend.recent, trend.previous, trend.recent_days, trend.previous_days) == (
            "falling", 10.0, 100.0, 7, 5,
        )  # fmt: skip
        assert trend.change_percent == -90.0

        new_points, new_events = await _model(history, NEW)
        assert [(e.kind, e.at, e.initial) for e in new_events] == [
            ("first_seen", _noon(date(2026, 10, 6), 6), False)
        ]
        new = fields(NEW, await _risk_entry(store, NEW), new_points)
        assert new.first_seen_source == "watcher"
        assert new.age_days == 24
        assert new.in_grace_period
        assert new.lifecycle_state == "grace"

        # The rows of the last generation carry the lifecycle, computed by the worker as of its capture day.
        rows = {
            name: (await _risk_entry(store, name)).lifecycle for name in (UNSERVED, DECLINING, NEW, GOLDEN)
        }
        unserved_row, declining_row, new_row, golden_row = (
            rows[n] for n in (UNSERVED, DECLINING, NEW, GOLDEN)
        )
        assert unserved_row is not None
        assert (unserved_row.zero_workers_since, unserved_row.days_at_risk) == (date(2026, 10, 11), 19)
        assert unserved_row.first_seen_source == "model_mod_data"
        assert unserved_row.lifecycle_state == "deletion_candidate"
        assert "no worker has served it for 19 days, since 2026-10-11 (no data 2026-10-20 to 2026-10-21)" in (
            unserved_row.reasons
        )
        assert declining_row is not None
        assert (declining_row.usage_trend.direction, declining_row.usage_trend.change_percent) == (
            "falling",
            -90.0,
        )
        assert new_row is not None
        assert (new_row.in_grace_period, new_row.first_seen_source, new_row.age_days) == (True, "watcher", 24)
        new_entry = await _risk_entry(store, NEW)
        assert not new_entry.deletion_risk_flags.zero_usage_month  # no usage flags in grace
        assert new_entry.deletion_risk_flags.no_active_workers
        assert golden_row is not None
        assert golden_row.lifecycle_state == "protected"

        golden_points = (await _model(history, GOLDEN))[0]
        golden = fields(GOLDEN, await _risk_entry(store, GOLDEN), golden_points)
        assert golden.protected
        assert golden.lifecycle_state == "protected"
        assert golden.first_seen_source == "model_mod_data"
    finally:
        await redis.aclose()


async def test_backfill_through_the_running_stack_gives_months_of_history(settings: Settings) -> None:
    """The documented backfill: real at_capture days and a generated sequence, rebuilt by the worker."""
    from devtools.devstack.history_backfill import DEFAULT_DATA, backfill

    # The real capture days (2023-07-09, 2024-06-08, 2025-06-25) are older than the default 400 days.
    settings = settings.model_copy(
        update={"history": settings.history.model_copy(update={"retention_days": 1500})}
    )
    redis = Redis.from_url(settings.redis.url)
    history = HistoryStore(redis, RedisKeys(settings.redis.key_prefix))
    try:
        async with running_worker(settings):
            await _until(lambda: history.is_built(IMAGE), within=90)
            written = await backfill(settings, DEFAULT_DATA, 60, today=TODAY)
            assert written == {"image_generation": 62, "text_generation": 61}
        summary = await history.summary(IMAGE, TODAY - timedelta(days=60), TODAY - timedelta(days=1))
        assert all(p.has_data and p.generated for p in summary)
        real = (await history.summary(IMAGE, date(2023, 7, 9), date(2023, 7, 9)))[0]
        assert real.has_data
        assert not real.generated
        assert real.models == 228
    finally:
        await redis.aclose()
