"""Kafka side of the watcher: one record per change and per category poll, keyed by category.

Each event is sent alone and awaited, so the broker has acknowledged it before the watcher moves
its published state forward (and single-record batches keep offsets exact on every broker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from faststream.kafka import KafkaBroker

from shared.events.reference import ReferenceCategoryChanged, ReferenceSourceHealthReported
from shared.kafka import encode_key, publish_event
from shared.metrics import EVENTS_PUBLISHED
from shared.topics import TopicSpec

#: CloudEvents source suffix of this service.
PRODUCER = "reference-watcher"


class KafkaEventPublisher:
    """Publishes reference events to ``spec`` with CloudEvents headers; a ``fence`` (leader
    election) runs before each publish, raising when this replica may not publish, and returns
    headers every record carries (the fencing token)."""

    def __init__(
        self,
        broker: KafkaBroker,
        spec: TopicSpec,
        fence: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self.broker = broker
        self.spec = spec
        self.fence = fence

    async def publish(self, event: ReferenceCategoryChanged, *, event_id: str, partition: int) -> None:
        extra = await self.fence() if self.fence is not None else None
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
            extra_headers=extra,
        )
        EVENTS_PUBLISHED.labels(self.spec.name).inc()


class KafkaHealthPublisher:
    """Publishes the per-category poll outcomes to ``spec`` (keyed and partitioned by category,
    like the changes), fenced by the same leader lease as the changes."""

    def __init__(
        self,
        broker: KafkaBroker,
        spec: TopicSpec,
        fence: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self.broker = broker
        self.spec = spec
        self.fence = fence

    async def publish_health(self, report: ReferenceSourceHealthReported, *, partition: int) -> None:
        extra = await self.fence() if self.fence is not None else None
        stamp = int(report.checked_at.timestamp() * 1000)
        await publish_event(
            self.broker,
            self.spec,
            report,
            key=encode_key(report.category.value),
            partition=partition,
            event_id=f"{report.category.value}:health:{stamp}",
            time=report.checked_at,
            producer=PRODUCER,
            subject=report.category.value,
            extra_headers=extra,
        )
        EVENTS_PUBLISHED.labels(self.spec.name).inc()
