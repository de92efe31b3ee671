"""The analytics worker against the real broker and Redis: inputs in, a whole generation out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from services.analytics.app import run
from shared.domain.categories import ModelCategory
from shared.kafka import encode_key, ensure_topics, make_broker, publish_event
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import (
    ALL_TOPICS,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    REFERENCE_CHANGED,
    partition_for,
)
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def worker_settings(kafka: KafkaInfo, redis_url: str, unique: str) -> Settings:
    env = kafka.env()
    return Settings(
        http_host="127.0.0.1",
        http_port=0,
        log_json=False,
        kafka={
            "bootstrap_servers": kafka.bootstrap_servers,
            "topic_prefix": f"t{unique}.",
            "enable_idempotence": kafka.supports_idempotence,
            "session_timeout_ms": int(env["HORDE_KAFKA__SESSION_TIMEOUT_MS"]),
            "heartbeat_interval_ms": int(env["HORDE_KAFKA__HEARTBEAT_INTERVAL_MS"]),
            "rebalance_timeout_ms": int(env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"]),
        },
        redis={"url": redis_url, "key_prefix": f"k{unique}"},
        analytics={"consumer_group": f"g{unique}"},
    )


async def publish(
    settings: Settings, spec: Any, event: Any, *, category: ModelCategory, key: str, event_id: str
) -> None:
    broker = make_broker(settings.kafka, client_id="test-producer")
    async with broker:
        await publish_event(
            broker,
            spec.with_prefix(settings.kafka.topic_prefix),
            event,
            key=encode_key(key),
            partition=partition_for(category, settings.kafka.topic_partitions),
            event_id=event_id,
            time=event_time(event),
            producer="test",
        )


def event_time(event: Any) -> Any:
    return getattr(event, "captured_at", None) or event.detected_at


async def wait_for_view(
    store: GenerationStore, category: ModelCategory, view: str, predicate: Any = None, within: float = 60
) -> tuple[str, bytes]:
    async def poll() -> tuple[str, bytes]:
        while True:
            current = await store.current(category)
            if current is not None:
                body = await store.view(category, current.generation, view)
                if body is not None and (predicate is None or predicate(json.loads(body))):
                    return current.generation, body
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), within)


@pytest.fixture
async def running_worker(kafka: KafkaInfo, redis_url: str, unique: str) -> AsyncIterator[Settings]:
    settings = worker_settings(kafka, redis_url, unique)
    await ensure_topics(settings.kafka, tuple(s.with_prefix(settings.kafka.topic_prefix) for s in ALL_TOPICS))
    task = asyncio.create_task(run(settings))
    try:
        yield settings
    finally:
        task.cancel()
        with pytest.raises((asyncio.CancelledError, Exception)):
            await task


async def test_snapshot_and_reference_become_a_generation(running_worker: Settings) -> None:
    settings = running_worker
    category = ModelCategory.IMAGE_GENERATION
    await publish(
        settings,
        REFERENCE_CHANGED,
        reference_event(category, DATA / "reference/image/stable_diffusion.json"),
        category=category,
        key=category.value,
        event_id="ref-1",
    )
    status = synthetic("status_models_image.json")
    stats = synthetic("stats_models_image.json")
    await publish(
        settings,
        HORDE_STATUS_CAPTURED,
        status_event(status),
        category=category,
        key="image",
        event_id="status-1",
    )
    await publish(
        settings, HORDE_STATS_CAPTURED, stats_event(stats), category=category, key="image", event_id="stats-1"
    )
    redis = Redis.from_url(settings.redis.url)
    store = GenerationStore(redis, RedisKeys(settings.redis.key_prefix), superseded_ttl_seconds=60)
    try:
        _, body = await wait_for_view(store, category, "with-stats")
        with_stats = json.loads(body)
        assert len(with_stats) == 161
        served = {e["name"]: e["count"] for e in status}
        for name, entry in with_stats.items():
            assert entry["thread_count"] == served.get(name, 0), name
    finally:
        await redis.aclose()


async def test_malformed_snapshot_is_dead_lettered(running_worker: Settings, kafka: KafkaInfo) -> None:
    settings = running_worker
    spec = HORDE_STATUS_CAPTURED.with_prefix(settings.kafka.topic_prefix)
    broker = make_broker(settings.kafka, client_id="test-producer")
    async with broker:
        await broker.publish(
            b'{"schema_version": 1, "model_type": "image", "entries": "oops"}',
            spec.name,
            key=b"image",
            partition=0,
        )
    consumer = AIOKafkaConsumer(
        spec.dead_letter,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["dlq_source_topic"] == spec.name
    assert "invalid HordeStatusCaptured" in headers["dlq_error"]
