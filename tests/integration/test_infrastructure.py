"""The session's broker and Redis are real and usable: produce/consume with headers, PING."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from shared.domain.categories import ModelCategory
from shared.events.cloudevents import CloudEventAttributes
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import encode_key, ensure_topics, make_broker, publish_event
from shared.settings import KafkaSettings
from shared.topics import TopicSpec
from tests.support.kafka_broker import KafkaInfo

pytestmark = pytest.mark.integration


async def test_event_round_trip_with_cloudevents_headers(kafka: KafkaInfo, unique: str) -> None:
    settings = KafkaSettings(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=kafka.supports_idempotence
    )
    spec = TopicSpec(f"test.roundtrip.{unique}", compacted=True, description="test")
    created = await ensure_topics(settings, (spec,))
    assert spec.name in created
    event = ReferenceCategoryChanged(
        category=ModelCategory.CLIP, version="v1", source="test", detected_at=datetime.now(UTC), records=()
    )
    broker = make_broker(settings, client_id="test")
    async with broker:
        await publish_event(
            broker,
            spec,
            event,
            key=encode_key("clip"),
            partition=1,
            event_id="id-1",
            time=datetime.now(UTC),
            producer="test",
            subject="clip",
        )
    consumer = AIOKafkaConsumer(
        spec.name, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    headers = {k: v.decode() for k, v in record.headers}
    assert record.key == b"clip"
    assert record.partition == 1
    attributes = CloudEventAttributes.from_headers(headers)
    assert attributes.id == "id-1"
    assert attributes.type == f"net.aihorde.analytics.{spec.name}"
    assert ReferenceCategoryChanged.model_validate_json(record.value) == event


async def test_redis_answers(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
