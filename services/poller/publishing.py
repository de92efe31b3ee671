"""Where and how the poller publishes: its topics and a publisher seam over the Kafka broker.

Topics are a value (defaults from :mod:`shared.topics`) so integration tests can give each test
unique topics on the shared broker; the publisher is a callable so unit tests need no broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.poller.client import Endpoint
from shared.kafka import publish_event
from shared.metrics import EVENTS_PUBLISHED
from shared.topics import (
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    TopicSpec,
)

#: CloudEvents ``source`` suffix of everything the poller publishes.
PRODUCER = "poller"


@dataclass(frozen=True, slots=True)
class PollerTopics:
    """Where the poller publishes; tests pass unique topics, production uses the defaults."""

    status: TopicSpec = HORDE_STATUS_CAPTURED
    stats: TopicSpec = HORDE_STATS_CAPTURED
    workers: TopicSpec = HORDE_WORKERS_CAPTURED
    health: TopicSpec = HORDE_SOURCE_HEALTH

    @classmethod
    def with_prefix(cls, prefix: str) -> PollerTopics:
        """The default topics under a deployment prefix (``KafkaSettings.topic_prefix``)."""
        return cls(*(spec.with_prefix(prefix) for spec in cls().all()))

    def snapshot_topic(self, endpoint: Endpoint) -> TopicSpec:
        """The snapshot topic of an endpoint."""
        topic: TopicSpec = getattr(self, endpoint)
        return topic

    def all(self) -> tuple[TopicSpec, ...]:
        """Every topic the poller writes (for ``ensure_topics``)."""
        return (self.status, self.stats, self.workers, self.health)


class EventPublisher(Protocol):
    """Publishes one event; a broker-backed one in production, a recorder in unit tests."""

    async def __call__(
        self,
        spec: TopicSpec,
        event: BaseModel,
        *,
        key: bytes,
        partition: int,
        event_id: str,
        time: datetime,
        subject: str,
    ) -> None: ...


#: Runs before each publish: raises when this replica may not publish, else returns extra headers.
Fence = Callable[[], Awaitable[Mapping[str, str]]]


def broker_publisher(broker: KafkaBroker, fence: Fence | None = None) -> EventPublisher:
    """An :class:`EventPublisher` over a started faststream broker (CloudEvents headers, acks=all);
    with a ``fence`` (leader election) every publish is checked first and carries its headers."""

    async def publish(
        spec: TopicSpec,
        event: BaseModel,
        *,
        key: bytes,
        partition: int,
        event_id: str,
        time: datetime,
        subject: str,
    ) -> None:
        extra = await fence() if fence is not None else None
        await publish_event(
            broker,
            spec,
            event,
            key=key,
            partition=partition,
            event_id=event_id,
            time=time,
            producer=PRODUCER,
            subject=subject,
            extra_headers=extra,
        )
        EVENTS_PUBLISHED.labels(spec.name).inc()

    return publish
