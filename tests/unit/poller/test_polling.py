"""Poller.poll_once: publish only on change, never publish a bad payload, report source health."""

from __future__ import annotations

import asyncio
import time as wall_time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel

from devtools.horde_standin.scenario import Scenario, load_frame, set_model_counts
from services.poller.polling import PollOutcome
from shared.events.horde import HordeStatusCaptured, SourceHealthReported
from shared.kafka import content_hash
from shared.topics import (
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    TopicSpec,
    partition_for_model_type,
)
from tests.unit.poller.support import (
    SYNTHETIC,
    FakeTime,
    RecordingPublisher,
    make_client,
    make_poller,
    standin_app,
    standin_state,
)

STATUS = HORDE_STATUS_CAPTURED.name
HEALTH = HORDE_SOURCE_HEALTH.name
SNAPSHOT_TOPICS = (HORDE_STATUS_CAPTURED, HORDE_STATS_CAPTURED, HORDE_WORKERS_CAPTURED)


def health_events(publisher: RecordingPublisher) -> list[SourceHealthReported]:
    """Every health event, in publication order (and nothing else ever lands on the topic)."""
    published = publisher.on(HEALTH)
    events = [p.event for p in published if isinstance(p.event, SourceHealthReported)]
    assert len(events) == len(published)
    return events


def two_frame_scenario() -> Scenario:
    first = load_frame(SYNTHETIC)
    name = first["status_models_image"][0]["name"]
    return Scenario.from_frames([SYNTHETIC, set_model_counts(first, "image", {name: 999})])


def gauge(name: str, endpoint: str, model_type: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"endpoint": endpoint, "model_type": model_type})


async def test_publishes_only_when_the_content_changes() -> None:
    time = FakeTime()
    app = standin_app(time, two_frame_scenario())
    client = make_client(time, httpx.ASGITransport(app))
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher)
    try:
        assert await poller.poll_once("status", "image") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "image") is PollOutcome.UNCHANGED
        standin_state(app).set_frame(1)
        assert await poller.poll_once("status", "image") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "image") is PollOutcome.UNCHANGED
    finally:
        await client.aclose()
    assert {p.topic for p in publisher.events} == {STATUS, HEALTH}
    first, second = publisher.on(STATUS)
    assert isinstance(first.event, HordeStatusCaptured)
    assert isinstance(second.event, HordeStatusCaptured)
    assert first.event.content_hash != second.event.content_hash
    assert 999 in {e.count for e in second.event.entries}
    digest = content_hash([e.model_dump(mode="json") for e in second.event.entries])
    assert second.event.content_hash == digest
    assert second.event_id == f"status:image:{digest}"
    assert (second.key, second.partition, second.subject) == (b"image", 0, "image")
    assert second.time == second.event.captured_at
    assert second.event.source_url == "http://standin.test/api/v2/status/models?type=image&model_state=known"
    assert poller.last_hash("status", "image") == digest
    health = health_events(publisher)
    assert [(h.endpoint, h.model_type, h.ok, h.consecutive_failures) for h in health] == [
        ("status", "image", True, 0)
    ] * 4


async def test_first_poll_of_every_source_publishes_to_its_topic() -> None:
    time = FakeTime()
    client = make_client(time, httpx.ASGITransport(standin_app(time)))
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher)
    try:
        outcomes = [await poller.poll_once(e, t) for e, t, _ in poller.schedules()]
    finally:
        await client.aclose()
    assert outcomes == [PollOutcome.PUBLISHED] * 6
    snapshots = [p for p in publisher.events if p.topic != HEALTH]
    assert sorted((p.topic, p.partition) for p in snapshots) == sorted(
        (spec.name, partition)
        for spec in SNAPSHOT_TOPICS
        for partition in (partition_for_model_type("image", 4), partition_for_model_type("text", 4))
    )
    health = health_events(publisher)
    assert [(h.endpoint, h.model_type, h.ok, h.consecutive_failures) for h in health] == [
        (e, t, True, 0) for e, t, _ in poller.schedules()
    ]
    assert [p.partition for p in publisher.on(HEALTH)] == [
        partition_for_model_type(t, 4) for _, t, _ in poller.schedules()
    ]


async def test_a_reordered_payload_is_not_a_change() -> None:
    entries = [{"name": n, "count": c} for n, c in (("b", 1), ("a", 2), ("c", 3))]
    answers = iter([entries, list(reversed(entries))])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(answers))

    time = FakeTime()
    client = make_client(time, httpx.MockTransport(handler))
    poller = make_poller(client, RecordingPublisher())
    try:
        assert await poller.poll_once("status", "text") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "text") is PollOutcome.UNCHANGED
    finally:
        await client.aclose()


async def test_an_unchanged_snapshot_is_still_confirmed_by_a_fresh_health_event() -> None:
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    checks: Iterator[datetime] = (start + timedelta(seconds=30 * i) for i in range(10))
    time = FakeTime()
    client = make_client(time, httpx.ASGITransport(standin_app(time)))
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher, now=lambda: next(checks))
    try:
        assert await poller.poll_once("status", "image") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "image") is PollOutcome.UNCHANGED
    finally:
        await client.aclose()
    (snapshot,) = publisher.on(STATUS)
    health = publisher.on(HEALTH)
    assert len(health) == 2
    first, second = health_events(publisher)
    assert (second.endpoint, second.model_type) == ("status", "image")
    assert (second.ok, second.consecutive_failures, second.error) == (True, 0, None)
    assert [h.checked_at for h in (first, second)] == [start, start + timedelta(seconds=30)]
    assert [p.time for p in health] == [start, start + timedelta(seconds=30)]
    assert health[0].event_id != health[1].event_id
    assert health[1].event_id == f"health:status:image:{(start + timedelta(seconds=30)).isoformat()}"
    assert (health[1].key, health[1].partition, health[1].subject) == (b"image", 0, "image")
    assert isinstance(snapshot.event, HordeStatusCaptured)
    assert first.last_success_at == snapshot.event.captured_at
    assert second.last_success_at is not None
    assert second.last_success_at >= snapshot.event.captured_at, "the unchanged fetch is the last success"


@pytest.mark.parametrize("fault", ["truncated_json", "wrong_types", "empty", "status"])
async def test_bad_answers_are_never_published_and_recovery_is_reported(fault: str) -> None:
    """D20: a failed or malformed AI Horde answer never becomes "zero workers" or "zero usage": nothing
    is published, the last good snapshot stays in force and health events say how old it is."""
    time = FakeTime()
    app = standin_app(time)
    client = make_client(time, httpx.ASGITransport(app))
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher)
    try:
        assert await poller.poll_once("workers", "text") is PollOutcome.PUBLISHED
        good_hash = poller.last_hash("workers", "text")
        standin_state(app).faults.add({"kind": fault, "endpoint": "workers"})
        assert await poller.poll_once("workers", "text") is PollOutcome.FAILED
        assert await poller.poll_once("workers", "text") is PollOutcome.FAILED
        assert gauge("hma_horde_consecutive_failures", "workers", "text") == 2
        standin_state(app).faults.clear()
        assert await poller.poll_once("workers", "text") is PollOutcome.UNCHANGED
    finally:
        await client.aclose()
    assert poller.last_hash("workers", "text") == good_hash
    assert len(publisher.on(HORDE_WORKERS_CAPTURED.name)) == 1
    health = health_events(publisher)
    assert [(h.ok, h.consecutive_failures) for h in health] == [(True, 0), (False, 1), (False, 2), (True, 0)]
    assert [h.error is None for h in health] == [True, False, False, True]
    first_success, failure, _, recovery = health
    assert failure.error is not None
    assert failure.error.startswith("workers (http://standin.test/api/v2/workers?type=text)")
    assert first_success.last_success_at is not None
    assert failure.last_success_at == first_success.last_success_at, "a failure keeps the last success"
    assert recovery.last_success_at is not None
    assert recovery.last_success_at >= first_success.last_success_at
    assert failure.rate_limit_limit == 90
    assert gauge("hma_horde_consecutive_failures", "workers", "text") == 0
    assert gauge("hma_horde_last_success_timestamp_seconds", "workers", "text") == pytest.approx(
        wall_time.time(), abs=60
    )


async def test_a_failed_publish_is_retried_on_the_next_poll() -> None:
    class FlakyPublisher(RecordingPublisher):
        failing = True

        async def __call__(self, spec: TopicSpec, event: BaseModel, **kwargs: Any) -> None:
            if self.failing:
                raise ConnectionError("broker down")
            await super().__call__(spec, event, **kwargs)

    time = FakeTime()
    client = make_client(time, httpx.ASGITransport(standin_app(time)))
    publisher = FlakyPublisher()
    poller = make_poller(client, publisher)
    try:
        with pytest.raises(ConnectionError):
            await poller.poll_once("stats", "image")
        assert poller.last_hash("stats", "image") is None
        publisher.failing = False
        assert await poller.poll_once("stats", "image") is PollOutcome.PUBLISHED
    finally:
        await client.aclose()
    assert len(publisher.on(HORDE_STATS_CAPTURED.name)) == 1
    assert [(h.ok, h.consecutive_failures) for h in health_events(publisher)] == [(True, 0)]
    assert len(publisher.events) == 2


def test_schedules_follow_the_settings() -> None:
    time = FakeTime()
    client = make_client(time, httpx.MockTransport(lambda r: httpx.Response(200)))
    poller = make_poller(
        client,
        RecordingPublisher(),
        model_types=["text"],
        status_interval_seconds=5,
        workers_interval_seconds=50,
        stats_interval_seconds=500,
    )
    assert poller.schedules() == [("status", "text", 5), ("workers", "text", 50), ("stats", "text", 500)]


async def test_run_polls_each_schedule_independently_and_stops() -> None:
    time = FakeTime()
    app = standin_app(time)
    client = make_client(time, httpx.ASGITransport(app))
    publisher = RecordingPublisher()
    poller = make_poller(
        client,
        publisher,
        status_interval_seconds=0.02,
        workers_interval_seconds=3600,
        stats_interval_seconds=3600,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(poller.run(stop))
    try:
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(runner, timeout=5)
    finally:
        await client.aclose()
    polled = [r["endpoint"] for r in standin_state(app).requests]
    assert polled.count("status") >= 6, "status polls repeat on their own short interval"
    assert polled.count("workers") == polled.count("stats") == 2, "one per model type, not repeated"
    snapshots = [p for p in publisher.events if p.topic != HEALTH]
    assert len(snapshots) == 6, "status repeats but is unchanged; each source publishes once"
    assert {p.topic for p in snapshots} == {spec.name for spec in SNAPSHOT_TOPICS}
    health = health_events(publisher)
    assert all(h.ok and h.consecutive_failures == 0 for h in health)
    confirmed = [h.endpoint for h in health]
    assert confirmed.count("workers") == confirmed.count("stats") == 2, "one confirmation per poll"
    # Every completed status poll is confirmed; the stop may cancel one poll per model type in flight.
    assert polled.count("status") - 2 <= confirmed.count("status") <= polled.count("status")
    assert confirmed.count("status") >= 6
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("poll-")]
    assert tasks == []


async def test_health_carries_the_content_hash_it_saw_and_when_that_content_appeared() -> None:
    """Issue 13: a poll confirms only the content it saw, so its health event names that content."""
    time = FakeTime()
    app = standin_app(time, two_frame_scenario())
    client = make_client(time, httpx.ASGITransport(app))
    publisher = RecordingPublisher()
    poller = make_poller(client, publisher)
    try:
        await poller.poll_once("status", "image")
        await poller.poll_once("status", "image")
        standin_state(app).set_frame(1)
        await poller.poll_once("status", "image")
        standin_state(app).faults.add({"kind": "empty", "endpoint": "status"})
        await poller.poll_once("status", "image")
    finally:
        await client.aclose()
    first_snapshot, second_snapshot = (p.event for p in publisher.on(STATUS))
    assert isinstance(first_snapshot, HordeStatusCaptured)
    assert isinstance(second_snapshot, HordeStatusCaptured)
    first, unchanged, moved, failed = health_events(publisher)
    assert all(h.schema_version == 2 for h in (first, unchanged, moved, failed))
    assert first.content_hash == unchanged.content_hash == first_snapshot.content_hash
    assert unchanged.content_changed_at == first_snapshot.captured_at, "unchanged content keeps its start"
    assert moved.content_hash == second_snapshot.content_hash
    assert moved.content_changed_at == second_snapshot.captured_at
    assert (failed.ok, failed.content_hash) == (False, second_snapshot.content_hash), "a failure keeps it"
    for health in (first, unchanged, moved, failed):
        assert health.next_attempt_at is not None
        assert health.next_attempt_at - health.checked_at == timedelta(seconds=poller.interval("status"))


def test_a_version_1_health_record_is_still_read() -> None:
    """Old pollers' records (no hash) stay valid input; they carry no content to compare."""
    old = SourceHealthReported.model_validate_json(
        '{"schema_version":1,"endpoint":"status","model_type":"image","ok":true,'
        '"checked_at":"2026-01-01T00:00:00Z","last_success_at":"2026-01-01T00:00:00Z"}'
    )
    assert (old.schema_version, old.content_hash, old.next_attempt_at) == (1, None, None)
