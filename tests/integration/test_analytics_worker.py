"""The analytics worker against the real broker and Redis: inputs in, whole generations out."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY

from shared.domain.categories import ModelCategory
from shared.domain.risk.summary import RISK_STATES
from shared.domain.views import (
    RISK_FLAGS,
    WITH_STATS_FLAGS,
    effective_risk_flags,
    risk_view,
    statistics_view,
    with_stats_view,
)
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import HORDE_STATUS_CAPTURED
from tests.support.analytics import publish_input, running_worker, wait_for_view
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
IMAGE = ModelCategory.IMAGE_GENERATION


def with_count(entries: list[dict[str, object]], name: str, count: int) -> list[dict[str, object]]:
    return [dict(e, count=count) if e["name"] == name else e for e in entries]


async def feed_image(
    settings: Settings, *, sd_threads: int | None = None, at: datetime | None = None
) -> None:
    status = synthetic("status_models_image.json")
    if sd_threads is not None:
        status = with_count(status, "stable_diffusion", sd_threads)
    await publish_input(settings, status_event(status, captured_at=at))


async def start_image(settings: Settings) -> None:
    await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
    await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
    await feed_image(settings)


async def _exported_risk_states(category: ModelCategory) -> dict[str, float]:
    """``hma_risk_models`` of this process's registry (the worker runs in-process), once set."""
    for _ in range(100):
        values = {
            state: REGISTRY.get_sample_value("hma_risk_models", {"category": category.value, "state": state})
            for state in RISK_STATES
        }
        if all(v is not None for v in values.values()):
            return {state: float(v or 0) for state, v in values.items()}
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never exported hma_risk_models")


async def test_reference_and_snapshot_become_every_view(settings: Settings, store: GenerationStore) -> None:
    async with running_worker(settings):
        await start_image(settings)
        generation, with_stats = await wait_for_view(store, IMAGE, "with-stats")
        exported = await _exported_risk_states(IMAGE)
    served = {e["name"]: e["count"] for e in synthetic("status_models_image.json")}  # type: ignore[index]
    assert len(with_stats) == 161
    stored = await store.view(IMAGE, generation, risk_view(*effective_risk_flags(IMAGE, False, False)))
    assert stored is not None
    summary = json.loads(stored)["summary"]
    assert sum(exported.values()) == summary["total_models"] == 161
    assert exported["critical"] == summary["models_critical"]
    assert exported["clear"] == 161 - summary["models_at_risk"]
    for name, entry in with_stats.items():
        assert entry["thread_count"] == served.get(name, 0), name
    expected = {statistics_view(False), statistics_view(True)}
    expected |= {with_stats_view(*flags) for flags in WITH_STATS_FLAGS}
    expected |= {risk_view(*effective_risk_flags(IMAGE, g, v)) for g, v in RISK_FLAGS}
    for view in expected:
        assert await store.view(IMAGE, generation, view) is not None, view
        assert await store.view(IMAGE, generation, view + ".gz") is not None, view


async def test_new_snapshot_updates_every_view(settings: Settings, store: GenerationStore) -> None:
    async with running_worker(settings):
        await start_image(settings)
        first, _ = await wait_for_view(store, IMAGE, "with-stats")
        await feed_image(settings, sd_threads=77)
        second, _ = await wait_for_view(
            store, IMAGE, "with-stats", lambda b: b["stable_diffusion"]["thread_count"] == 77
        )
    assert second != first
    # Without a workers snapshot the worker count falls back to threads, in every view of the generation.
    risk = json.loads(await store.view(IMAGE, second, "deletion-risk") or b"{}")
    assert {m["name"]: m["worker_count"] for m in risk["models"]}["stable_diffusion"] == 77
    listed = json.loads(await store.view(IMAGE, second, "with-stats.workers.variations") or b"{}")
    assert listed["stable_diffusion"]["thread_count"] == 77


async def test_replayed_and_duplicate_events_change_nothing(
    settings: Settings, store: GenerationStore
) -> None:
    async with running_worker(settings):
        await start_image(settings)
        at = datetime.now(UTC)
        await feed_image(settings, sd_threads=5, at=at)
        generation, _ = await wait_for_view(
            store, IMAGE, "with-stats", lambda b: b["stable_diffusion"]["thread_count"] == 5
        )
        before = await store.current(IMAGE)
        # The same snapshot again (a producer retry): same content, nothing to write.
        await feed_image(settings, sd_threads=5, at=at)
        await asyncio.sleep(3)
        after = await store.current(IMAGE)
    assert before == after
    assert after is not None
    assert after.generation == generation


async def test_cold_start_rebuilds_redis_from_kafka_alone(
    settings: Settings, store: GenerationStore, unique: str
) -> None:
    async with running_worker(settings):
        await start_image(settings)
        generation, body = await wait_for_view(store, IMAGE, "deletion-risk")
    await store.redis.flushdb()
    cold = settings.model_copy(update={"analytics": settings.analytics.model_copy(
        update={"consumer_group": f"cold{unique}"})})  # fmt: skip
    async with running_worker(cold):
        rebuilt, rebuilt_body = await wait_for_view(store, IMAGE, "deletion-risk")
    assert rebuilt == generation
    assert rebuilt_body["models"] == body["models"]


async def test_malformed_snapshot_is_dead_lettered_and_the_worker_goes_on(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo
) -> None:
    spec = HORDE_STATUS_CAPTURED.with_prefix(settings.kafka.topic_prefix)
    async with running_worker(settings):
        await start_image(settings)
        await wait_for_view(store, IMAGE, "with-stats")
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                spec.name, b'{"schema_version": 1, "entries": "oops"}', key=b"image", partition=0
            )
            await producer.send_and_wait(spec.name, b"not json at all", key=b"image", partition=0)
        finally:
            await producer.stop()
        await feed_image(settings, sd_threads=31)
        await wait_for_view(store, IMAGE, "with-stats", lambda b: b["stable_diffusion"]["thread_count"] == 31)
    consumer = AIOKafkaConsumer(spec.dead_letter, bootstrap_servers=kafka.bootstrap_servers,
                                auto_offset_reset="earliest", group_id=None)  # fmt: skip
    await consumer.start()
    try:
        records = []
        while len(records) < 2:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    reasons = [{k: v.decode() for k, v in r.headers} for r in records]
    assert all(r["dlq_source_topic"] == spec.name for r in reasons)
    assert "invalid HordeStatusCaptured" in reasons[0]["dlq_error"]
    assert records[1].value == b"not json at all"


async def test_a_future_dated_snapshot_is_dead_lettered_and_later_snapshots_apply(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13: one snapshot dated a day ahead used to make every later one "older" (dropped,
    refused by the swap, never stale). Now it is rejected with the reason, logged at ERROR, and
    the next real snapshot is applied; no answer reports a time in the future. Snapshots are
    ordered by offset: a later record with an earlier ``captured_at`` is still newer."""
    spec = HORDE_STATUS_CAPTURED.with_prefix(settings.kafka.topic_prefix)
    async with running_worker(settings):
        await start_image(settings)
        await wait_for_view(store, IMAGE, "with-stats")
        await feed_image(settings, sd_threads=41, at=datetime.now(UTC) + timedelta(days=1))
        await feed_image(settings, sd_threads=42)
        await wait_for_view(store, IMAGE, "with-stats", lambda b: b["stable_diffusion"]["thread_count"] == 42)
        await feed_image(settings, sd_threads=43, at=datetime.now(UTC) - timedelta(minutes=5))
        await wait_for_view(store, IMAGE, "with-stats", lambda b: b["stable_diffusion"]["thread_count"] == 43)
        current = await store.current(IMAGE)
    assert current is not None
    assert int(current.basis["status_at_ms"]) <= datetime.now(UTC).timestamp() * 1000
    rejected = [r for r in caplog.records if r.levelname == "ERROR" and "dead-letter" in r.getMessage()]
    assert rejected, "the rejection is logged as an error"
    assert "captured_at" in rejected[0].getMessage()
    consumer = AIOKafkaConsumer(spec.dead_letter, bootstrap_servers=kafka.bootstrap_servers,
                                auto_offset_reset="earliest", group_id=None)  # fmt: skip
    await consumer.start()
    try:
        records = []
        while not records:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    reason = {k: v.decode() for k, v in records[0].headers}
    assert reason["dlq_error_type"] == "FutureTimestampError"
    assert "ahead of its arrival" in reason["dlq_error"]
