"""Producer guarantees that only Apache Kafka offers (the embedded broker lacks idempotence)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from shared.domain.categories import ModelCategory
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import encode_key, ensure_topics, make_broker, make_producer, publish_event
from shared.settings import KafkaSettings
from shared.topics import TopicSpec
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.real_kafka]


async def test_idempotent_producers_publish_each_event_once(kafka: KafkaInfo, unique: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True)
    spec = TopicSpec(f"test.idempotent.{unique}", compacted=True, description="test")
    await ensure_topics(settings, (spec,))
    broker = make_broker(settings, client_id="idempotent-test")
    producer = make_producer(settings, client_id="idempotent-tombstones")
    now = datetime.now(UTC)
    async with broker:
        await producer.start()
        try:
            for index in range(50):
                event = ReferenceCategoryChanged(
                    category=ModelCategory.CLIP,
                    version=f"v{index}",
                    source="test",
                    detected_at=now,
                    records=(),
                )
                await publish_event(broker, spec, event, key=encode_key("clip"), partition=0,
                                    event_id=f"clip:v{index}", time=now, producer="test")  # fmt: skip
            await producer.send_and_wait(spec.name, None, key=encode_key("clip"), partition=0)
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer(spec.name, bootstrap_servers=kafka.bootstrap_servers,
                                auto_offset_reset="earliest", group_id=None)  # fmt: skip
    await consumer.start()
    records = []
    try:
        while len(records) < 51:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    ids = [dict(r.headers)["ce_id"].decode() for r in records[:50]]
    assert ids == [f"clip:v{i}" for i in range(50)], "each event exactly once, in order"
    assert records[50].value is None, "a real tombstone (null value) for compaction"
