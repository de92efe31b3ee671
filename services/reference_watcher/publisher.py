"""Kafka side of the watcher: one record per change, keyed and partitioned by category.

Each event is sent alone and awaited, so the broker has acknowledged it before the watcher moves
its published state forward (and single-record batches keep offsets exact on every broker).
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import encode_key, publish_event
from shared.metrics import EVENTS_PUBLISHED
from shared.topics import TopicSpec

#: CloudEvents source suffix of this service.
PRODUCER = "reference-watcher"


class KafkaEventPublisher:
    """Publishes reference events to ``spec`` with CloudEvents headers."""

    def __init__(self, broker: KafkaBroker, spec: TopicSpec) -> None:
        self.broker = broker
        self.spec = spec

    async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None:
        await publish_event(
            self.broker,
            self.spec,
            event,
            key=encode_key(event.category.value),
            partition=partition,
            event_id=event_id,
            time=event.detected_at,
            producer=PRODUCER,
            subject=event.category.value,
        )
        EVENTS_PUBLISHED.labels(self.spec.name).inc()
