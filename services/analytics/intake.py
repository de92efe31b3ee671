"""From a batch of input records to the state: decode, dead-letter the poison, apply, note progress.

A record that can never be processed (undecodable, or dated beyond the tolerated clock skew) goes
to its topic's ``.dlq`` and the batch goes on. An accepted event that changed a category marks it
for the materialiser (``Pending``), with the trace context of its record; a health event marks
only the category's source health. After the batch, every touched owned partition's position is
noted, so the materialiser knows when the replay of a category has caught up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.analytics.inputs import (
    InputTopics,
    PoisonRecordError,
    arrival_time,
    check_not_future,
    decode_record,
)
from services.analytics.lag import LagGauge
from services.analytics.ownership import Tenure
from services.analytics.state import AnalyticsState
from shared import tracing
from shared.domain.categories import ModelCategory
from shared.events.horde import SourceHealthReported
from shared.events.reference import ReferenceSourceHealthReported
from shared.topics import misplaced


@dataclass
class Pending:
    """Categories whose views (``views``) or source health (``health``) must be written again."""

    views: set[ModelCategory] = field(default_factory=set)
    health: set[ModelCategory] = field(default_factory=set)
    #: Trace contexts of the records behind each pending recompute (tracing: shared/tracing.py).
    traces: tracing.PendingTraces = field(default_factory=tracing.PendingTraces)

    def clear(self) -> None:
        self.views.clear()
        self.health.clear()


class DeadLetters(Protocol):
    """Moves a poison record to its dead-letter topic (``services.analytics.dead_letters``)."""

    async def __call__(self, record: ConsumerRecord[Any, Any], error: Exception) -> None: ...


class Positions(Protocol):
    """The consumer's view of a partition (``aiokafka.AIOKafkaConsumer``)."""

    async def position(self, tp: TopicPartition) -> int: ...

    def highwater(self, tp: TopicPartition) -> int | None: ...


class Intake:
    """Applies input records to the state and marks what the materialiser must write."""

    def __init__(
        self,
        *,
        topics: InputTopics,
        state: AnalyticsState,
        pending: Pending,
        tenure: Tenure,
        lag: LagGauge,
        dead_letters: DeadLetters,
        max_future_seconds: float,
    ) -> None:
        self.topics = topics
        self.state = state
        self.pending = pending
        self.tenure = tenure
        self.lag = lag
        self.dead_letters = dead_letters
        self.max_future_seconds = max_future_seconds

    async def apply(self, records: Sequence[ConsumerRecord[Any, Any]], *, now: datetime) -> None:
        """Decode and apply every record (bursts coalesce here); a poison one is dead-lettered."""
        for record in records:
            if misplaced(record.key, record.partition, self.tenure.partition_count):
                continue  # left behind by a smaller partition count; shared.repartition copied it
            try:
                event = decode_record(self.topics, record.topic, record.value)
                check_not_future(
                    event,
                    received_at=arrival_time(record.timestamp, now),
                    tolerance_seconds=self.max_future_seconds,
                )
            except PoisonRecordError as error:
                await self.dead_letters(record, error)
                continue
            if isinstance(event, SourceHealthReported | ReferenceSourceHealthReported):
                touched = self.state.apply_health(event, offset=record.offset)
                if touched is not None:
                    self.pending.health.add(touched)
                continue
            changed = self.state.apply(event, offset=record.offset)
            if changed is not None:
                self.pending.views.add(changed)
                self.pending.traces.note(changed, record.headers)

    async def track(self, consumer: Positions, touched: set[TopicPartition]) -> None:
        """Note how far the owned partitions in ``touched`` have been read (and their lag)."""
        for tp in touched:
            if tp not in self.tenure.targets:
                continue
            position = await consumer.position(tp)
            # The highwater of fetch responses is exact; end offsets of the embedded broker are not.
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.lag.set(tp, highwater - position)
            self.tenure.reached(tp, position, highwater)
