"""A worker process SIGKILLed mid-sequence ends in the same history, byte for byte, as one never killed.

Issue 17's "killing and restarting the worker mid-sequence ends in identical history", with a hard
kill: two analytics workers run as processes (``python -m services.analytics``) on separate
prefixes and are fed the same ten days of the generated month of ``tests/integration/test_history.py``
(a status and a stats capture a day, a reference change on the sixth day). One is SIGKILLed on the
third, sixth and eighth day, right after or a seeded moment (< 0.5 s) after that day's status
snapshot was published (so before, during or after its fold, publish and Redis write), and
restarted each time; the other runs through. Every history key (day points, reference events,
day summaries, the pre-joined windows) must then be identical.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from devtools.devstack.ports import free_port
from devtools.devstack.processes import ServiceProcess
from shared.kafka import ensure_topics
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.history import HistoryStore
from shared.topics import ALL_TOPICS
from tests.chaos.results import record
from tests.integration.test_history import (
    DECLINING,
    FIRST,
    IMAGE,
    NEW,
    REFERENCE,
    Month,
    _history_keys,
    _noon,
)
from tests.support.analytics import publish_input, worker_settings
from tests.support.events import reference_event, stats_event, status_event
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

DAYS = [FIRST + timedelta(days=i) for i in range(10)]
CHANGE_DAY = FIRST + timedelta(days=5)  # the day of the reference change
KILL_DAYS = (FIRST + timedelta(days=2), CHANGE_DAY, FIRST + timedelta(days=7))
SEED = 20261207
WAIT_SECONDS = 120.0  # a restarted worker rejoins its group and rebuilds the history first


def _env(settings: Settings, kafka: KafkaInfo) -> dict[str, str]:
    env = kafka.env()
    env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"] = str(min(3000, int(env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"])))
    return env | {
        "HORDE_LOG_JSON": "true",
        "HORDE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "HORDE_REDIS__URL": settings.redis.url,
        "HORDE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "HORDE_ANALYTICS__CONSUMER_GROUP": settings.analytics.consumer_group,
    }


async def _captures(history: HistoryStore, day: date) -> int:
    return (await history.summary(IMAGE, day, day))[0].captures or 0


async def _until(check: Callable[[], Awaitable[bool]], what: str, worker: ServiceProcess) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {WAIT_SECONDS} s; worker log tail:\n{worker.log_text()[-3000:]}")
        await asyncio.sleep(0.1)


class Run:
    """One worker process on its own prefixes, fed the month day by day."""

    def __init__(self, name: str, settings: Settings, kafka: KafkaInfo, tmp_path: Path) -> None:
        self.settings = settings
        self.month = Month(_second_reference(tmp_path / name))
        self.redis = Redis.from_url(settings.redis.url)
        self.keys = RedisKeys(settings.redis.key_prefix)
        self.history = HistoryStore(self.redis, self.keys)
        self.worker = ServiceProcess(
            f"analytics-{name}", "services.analytics", free_port(), _env(settings, kafka),
            log_path=tmp_path / f"{name}.log",
        )  # fmt: skip
        self.restart_seconds: list[float] = []

    async def publish(self, day: date, event: object) -> None:
        """Publish one snapshot and wait until the worker folded it (one more capture of the day)."""
        held = await _captures(self.history, day)
        await publish_input(self.settings, event)  # type: ignore[arg-type]
        await self.folded(day, held + 1)

    async def folded(self, day: date, captures: int) -> None:
        async def done() -> bool:
            return await _captures(self.history, day) >= captures

        await _until(done, f"capture {captures} of {day}", self.worker)

    async def feed(self, day: date, *, kill_after: float | None = None) -> None:
        """The day's snapshots; with ``kill_after``, SIGKILL the worker that long after the status
        was published, restart it, and wait until the status capture is in the history."""
        if day == CHANGE_DAY:
            changed = reference_event(IMAGE, self.month.reference_v2, detected_at=_noon(day, 6))
            await publish_input(
                self.settings, changed.model_copy(update={"previous_version": "v1", "added": (NEW,)})
            )
        status = status_event(self.month.status_of(day), captured_at=_noon(day, 13))
        if day == FIRST:  # no stats yet: no runtime views, nothing to record
            await publish_input(self.settings, status)
        elif kill_after is None:
            await self.publish(day, status)
        else:
            held = await _captures(self.history, day)
            await publish_input(self.settings, status)
            await asyncio.sleep(kill_after)
            killed = time.monotonic()
            await asyncio.to_thread(self.worker.stop, signal.SIGKILL)
            self.worker.start()
            await asyncio.to_thread(self.worker.wait_ready, WAIT_SECONDS)
            await self.folded(day, held + 1)
            self.restart_seconds.append(time.monotonic() - killed)
        stats = stats_event(self.month.stats(day), captured_at=_noon(day, 13) + timedelta(minutes=30))
        await self.publish(day, stats)

    async def run(self, kills: dict[date, float]) -> dict[str, dict[bytes | str, bytes | str]]:
        await publish_input(self.settings, reference_event(IMAGE, REFERENCE, detected_at=_noon(FIRST, 6)))
        self.worker.start()
        try:
            await asyncio.to_thread(self.worker.wait_ready, WAIT_SECONDS)
            for day in DAYS:
                await self.feed(day, kill_after=kills.get(day))
            held = await _history_keys(self.redis, self.keys)
        finally:
            await asyncio.to_thread(self.worker.stop)
            await self.redis.aclose()
        prefix = f"{self.settings.redis.key_prefix}:"
        return {key.removeprefix(prefix): fields for key, fields in held.items()}


def _second_reference(folder: Path) -> Path:
    """The image reference with the month's new model added (the sixth day's reference change)."""
    import json

    records = json.loads(REFERENCE.read_text())
    records[NEW] = dict(records[DECLINING], name=NEW)
    folder.mkdir(parents=True)
    path = folder / "stable_diffusion.json"
    path.write_text(json.dumps(records))
    return path


def test_a_sigkilled_worker_ends_in_the_same_history_as_an_uninterrupted_one(
    kafka: KafkaInfo, redis_url: str, unique: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    kills = {day: 0.0 if day == KILL_DAYS[0] else rng.uniform(0.0, 0.5) for day in KILL_DAYS}
    runs = {
        name: Run(name, worker_settings(kafka, redis_url, f"{unique}{name}"), kafka, tmp_path)
        for name in ("calm", "killed")
    }

    async def both() -> tuple[dict[str, dict[bytes | str, bytes | str]], ...]:
        for run in runs.values():
            spec = run.settings.kafka
            await ensure_topics(spec, tuple(s.with_prefix(spec.topic_prefix) for s in ALL_TOPICS))
        return await asyncio.gather(runs["calm"].run({}), runs["killed"].run(kills))

    calm, killed = asyncio.run(both())
    record(
        "history_sigkill.kills",
        len(kills),
        "SIGKILLs",
        f"after the status: {[round(v, 2) for v in sorted(kills.values())]} s",
    )
    restarts = runs["killed"].restart_seconds
    record("history_sigkill.restart_max", max(restarts), "s", "SIGKILL → the day's status capture recorded")
    assert len(restarts) == len(KILL_DAYS)
    assert any(":model:" in key for key in calm), "the history was recorded"
    assert any(key.endswith(f":events:{NEW}") for key in calm), "the reference change was recorded"
    assert sorted(killed) == sorted(calm)
    differing = [key for key in calm if killed[key] != calm[key]]
    assert not differing, f"{len(differing)} history keys differ after the SIGKILL, e.g. {differing[:5]}"
