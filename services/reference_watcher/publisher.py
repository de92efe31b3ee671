"""Kafka side of the watcher: one record per change and per category poll, keyed by category.

Each event is sent alone and awaited, so the broker has acknowledged it before the watcher moves
its published state forward (and single-record batches keep offsets exact on every broker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from shared.events.reference import ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.kafka import encode_key, publish_event
from shared.metrics import EVENTS_PUBLISHED
from shared.topics import TopicSpec

#: CloudEvents source suffix of this service.
PRODUCER = "reference-watcher"


#: The leader lease's check before a publish: raises when this replica may not publish, and returns
#: the headers every record of the term carries (the fencing token).
Fence = Callable[[], Awaitable[Mapping[str, str]]]


class FencedPublisher:
    """One record at a time to ``spec`` with CloudEvents headers, behind the ``fence`` (if any)."""

    def __init__(self, broker: KafkaBroker, spec: TopicSpec, fence: Fence | None = None) -> None:
        self.broker = broker
        self.spec = spec
        self.fence = fence

    async def send(
        self, event: BaseModel, *, key: str, partition: int, event_id: str, time: datetime, subject: str
    ) -> None:
        extra = await self.fence() if self.fence is not None else None
        await publish_event(
            self.broker, self.spec, event, key=encode_key(key), partition=partition, event_id=event_id,
            time=time, producer=PRODUCER, subject=subject, extra_headers=extra,
        )  # fmt: skip
        EVENTS_PUBLISHED.labels(self.spec.name).inc()


class KafkaEventPublisher(FencedPublisher):
    """Publishes reference change events, keyed by category."""

    async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None:
        category = event.category.value
        await self.send(
            event,
            key=category,
            partition=partition,
            event_id=event_id,
            time=event.detected_at,
            subject=category,
        )


class KafkaHealthPublisher(FencedPublisher):
    """Publishes the per-category poll outcomes (keyed and partitioned by category, like the changes)."""

    async def publish_health(self, report: ReferenceSourceHealthReported, *, partition: int) -> None:
        category = report.category.value
        stamp = int(report.checked_at.timestamp() * 1000)
        await self.send(
            report, key=category, partition=partition, event_id=f"{category}:health:{stamp}",
            time=report.checked_at, subject=category,
        )  # fmt: skip
