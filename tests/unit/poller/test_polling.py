"""Poller.poll_once: publish only on change, never publish a bad payload, report source health."""

from __future__ import annotations

import asyncio
import time as wall_time
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel

from services.horde_standin.scenario import Scenario, load_frame, set_model_counts
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
    first, second = publisher.events
    assert first.topic == second.topic == STATUS
    assert isinstance(second.event, HordeStatusCaptured)
    assert 999 in {e.count for e in second.event.entries}
    digest = content_hash([e.model_dump(mode="json") for e in second.event.entries])
    assert second.event.content_hash == digest
    assert second.event_id == f"status:image:{digest}"
    assert (second.key, second.partition, second.subject) == (b"image", 0, "image")
    assert second.time == second.event.captured_at
    assert second.event.source_url == "http://standin.test/api/v2/status/models?type=image&model_state=known"
    assert poller.last_hash("status", "image") == digest


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
    assert sorted((p.topic, p.partition) for p in publisher.events) == sorted(
        (spec.name, partition)
        for spec in (HORDE_STATUS_CAPTURED, HORDE_STATS_CAPTURED, HORDE_WORKERS_CAPTURED)
        for partition in (partition_for_model_type("image", 4), partition_for_model_type("text", 4))
    )


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


@pytest.mark.parametrize("fault", ["truncated_json", "wrong_types", "empty", "status"])
async def test_bad_answers_are_never_published_and_recovery_is_reported(fault: str) -> None:
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
    health = [p.event for p in publisher.on(HEALTH) if isinstance(p.event, SourceHealthReported)]
    assert len(health) == len(publisher.on(HEALTH))
    assert [(h.ok, h.consecutive_failures) for h in health] == [(False, 1), (False, 2), (True, 0)]
    failure = health[0]
    assert failure.error is not None
    assert failure.error.startswith("workers (http://standin.test/api/v2/workers?type=text)")
    assert failure.last_success_at is not None
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
    assert len(publisher.events) == 1


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
    assert len(publisher.events) == 6, "status repeats but is unchanged; each source publishes once"
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("poll-")]
    assert tasks == []
