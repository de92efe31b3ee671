"""Rebuild "what was last published" from the compacted reference topic.

The topic is the watcher's only memory: its latest record per category key is the full state
last published. Reading it from the beginning to the end at start-up makes restarts idempotent
(nothing changed → nothing published) without any other store. Any consumer can rebuild the
reference the same way (see ``docs/reference-events.md``).

The end is the high watermark the broker reports in fetch responses, not only ``end_offsets()``:
the embedded test broker answers ListOffsets wrongly after multi-record batches (kafka-test-infra
§2.2). We take the larger of the two, and every read is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from shared.domain.categories import ModelCategory
from shared.domain.reference.records import ReferenceSnapshot
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import consumer_options, drain_to_end, kafka_client_options, topic_partitions
from shared.settings import KafkaSettings
from shared.topics import TopicSpec

log = logging.getLogger(__name__)


@dataclass
class PublishedState:
    """The latest published snapshot per category, and the topic's real partition count."""

    partitions: int
    snapshots: dict[ModelCategory, ReferenceSnapshot] = field(default_factory=dict)
    records_read: int = 0


def _apply(
    state: dict[ModelCategory, ReferenceCategoryChanged], key: bytes | None, value: bytes | None
) -> None:
    """Latest record per key wins; a tombstone (null value) forgets the category."""
    if value is None:
        try:
            state.pop(ModelCategory((key or b"").decode()), None)
        except ValueError:
            log.warning("tombstone with an unknown category key", extra={"key": repr(key)})
        return
    try:
        event = ReferenceCategoryChanged.model_validate_json(value)
    except ValidationError as exc:
        log.warning("unreadable record on the reference topic; skipped", extra={"error": str(exc)})
        return
    state[event.category] = event


async def read_published_state(
    settings: KafkaSettings, spec: TopicSpec, *, timeout_seconds: float
) -> PublishedState:
    """Read ``spec`` from the beginning to the end; raises TimeoutError past ``timeout_seconds``.

    Failing start-up is deliberate: publishing without knowing the previous state would announce
    every model as added again.
    """
    options = consumer_options(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=options["max_partition_fetch_bytes"],
        fetch_max_bytes=options["fetch_max_bytes"],
        request_timeout_ms=30_000,
        **kafka_client_options(settings),
    )
    partitions = await topic_partitions(settings, spec.name)
    if not partitions:
        raise RuntimeError(f"topic {spec.name} does not exist; create it or enable kafka.create_topics")
    await consumer.start()
    try:
        return await asyncio.wait_for(_read_all(consumer, spec, partitions), timeout_seconds)
    finally:
        await consumer.stop()


async def _read_all(consumer: AIOKafkaConsumer, spec: TopicSpec, partitions: list[int]) -> PublishedState:
    tps = [TopicPartition(spec.name, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    latest: dict[ModelCategory, ReferenceCategoryChanged] = {}
    read = await drain_to_end(
        consumer, tps, ends, lambda record: _apply(latest, record.key, record.value), fetch_timeout_ms=1000
    )
    snapshots = {
        category: ReferenceSnapshot(category=category, version=event.version, records=event.records)
        for category, event in latest.items()
    }
    log.info(
        "published reference state rebuilt",
        extra={"topic": spec.name, "records_read": read, "categories": sorted(c.value for c in snapshots)},
    )
    return PublishedState(partitions=len(tps), snapshots=snapshots, records_read=read)
