"""The worker's side of risk-change publishing: recover what Kafka holds at assignment, publish a
written generation's changes (``services.analytics.risk_events`` does the diff and the records).

The publisher's state is only ever set by the publisher itself (``RiskChangePublisher.load`` and
``forget``), from what this module reads off the compacted current-state topic and the tail of the
history topic for the owned partitions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.analytics.recompute import Generation
from services.analytics.risk_events import RiskChangePublisher, read_current_states, read_last_changes
from shared.domain.categories import ModelCategory
from shared.events.risk import RiskBasis
from shared.settings import KafkaSettings
from shared.store.fencing import Fence

log = logging.getLogger(__name__)


class RiskFeed:
    """Feeds a ``RiskChangePublisher`` from the worker's assignments and generations."""

    def __init__(self, publisher: RiskChangePublisher, kafka_settings: KafkaSettings) -> None:
        self.publisher = publisher
        self.kafka_settings = kafka_settings

    async def load(self, partitions: set[int]) -> None:
        """Start from what was published for the owned ``partitions`` (at assignment)."""
        publisher = self.publisher
        await publisher.own(partitions)  # fences the partitions' previous owners in Kafka first
        published = await read_current_states(self.kafka_settings, publisher.current, partitions)
        last = await read_last_changes(self.kafka_settings, publisher.changed, partitions)
        publisher.load(published, last)
        log.info(
            "published risk states loaded",
            extra={
                "models": {c.value: len(v) for c, v in publisher.states.items()},
                "sequences": {c.value: n for c, n in publisher.sequences.items()},
                "pending": {c.value: e.event_id for c, e in publisher.pending.items()},
            },
        )

    def forget(self) -> None:
        self.publisher.forget()

    async def publish(
        self, category: ModelCategory, generation: Generation, *, fence: Fence, keep_going: Callable[[], bool]
    ) -> None:
        """Publish the risk changes of a generation just made current (none without runtime data)."""
        if generation.risk_models is None:
            return
        basis = generation.basis
        risk_basis = RiskBasis(
            generation=generation.generation,
            reference_version=basis.reference_version,
            horde_status_at_ms=basis.status_at_ms,
            horde_stats_at_ms=basis.stats_at_ms,
        )
        await self.publisher.publish(
            category, generation.risk_models, risk_basis, keep_going=keep_going, fence=fence
        )
