"""The analytics worker: owned partitions → rebuilt inputs → coalesced recomputes → Redis.

This module wires the pieces and drives them from the consumer group's callbacks and one loop:
``ownership`` (owned partitions, catch-up targets, rebalance guard, fencing tokens), ``intake``
(decode, dead-letter, apply to the state, track progress), ``materialiser`` (recompute, swap,
verify and heal), ``risk_feed`` (risk publisher recovery and publishing) and the history.

On assignment the member forgets everything, takes new fencing tokens, recovers the published
risk states and the history, and replays its partitions from the beginning (the topics are
compacted: Kafka is the only source of truth); on revocation it waits for the step in flight and
forgets everything. The loop recomputes what is pending, verifies Redis every
``verify_interval_seconds`` and measures the consumer lag every ``lag_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.analytics.dead_letters import publish_dead_letter
from services.analytics.history import HistoryRecorder
from services.analytics.inputs import InputTopics
from services.analytics.intake import Intake, Pending
from services.analytics.lag import LAG_INTERVAL_SECONDS, LagGauge, measure_lag
from services.analytics.materialiser import Materialiser
from services.analytics.ownership import Fences, Tenure
from services.analytics.risk_events import RiskChangePublisher
from services.analytics.risk_feed import RiskFeed
from services.analytics.state import AnalyticsState
from shared.backoff import Backoff
from shared.domain.risk.thresholds import RiskThresholds
from shared.metrics import RISK_MODELS, forget_categories
from shared.settings import KafkaSettings
from shared.store.generations import GenerationStore

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)


class AnalyticsWorker:
    """One consumer-group member's pieces, wired together and driven by rebalances and one loop."""

    def __init__(
        self,
        *,
        topics: InputTopics,
        partitions: int,
        store: GenerationStore,
        thresholds: RiskThresholds,
        broker: KafkaBroker,
        consumer_name: str,
        risk: RiskChangePublisher | None = None,
        kafka_settings: KafkaSettings | None = None,
        verify_interval_seconds: float = 5.0,
        max_future_seconds: float = 60.0,
        lag_interval_seconds: float = LAG_INTERVAL_SECONDS,
        history: HistoryRecorder | None = None,
    ) -> None:
        self.topics = topics
        self.broker = broker
        self.consumer_name = consumer_name
        self.kafka_settings = kafka_settings
        self.history = history
        self.verify_interval_seconds = verify_interval_seconds
        self.lag_interval_seconds = lag_interval_seconds
        self.consumer: AIOKafkaConsumer | None = None
        self.wakeup = asyncio.Event()
        self.state = AnalyticsState()
        self.pending = Pending()
        self.tenure = Tenure(partitions)
        self.fences = Fences(store.fences)
        #: Consumer lag of the owned partitions, read from the broker on a timer (services/analytics/lag.py).
        self.lag = LagGauge()
        self.risk = (
            RiskFeed(risk, kafka_settings) if risk is not None and kafka_settings is not None else None
        )
        self.intake = Intake(
            topics=topics, state=self.state, pending=self.pending, tenure=self.tenure, lag=self.lag,
            dead_letters=self.dead_letter, max_future_seconds=max_future_seconds,
        )  # fmt: skip
        self.materialiser = Materialiser(
            state=self.state, pending=self.pending, tenure=self.tenure, fences=self.fences, store=store,
            thresholds=thresholds, risk=self.risk, history=history,
        )  # fmt: skip

    @property
    def generations_written(self) -> int:
        return self.materialiser.generations_written

    # -- rebalances --------------------------------------------------------------------------
    async def on_assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Forget everything, load the published risk states, replay the partitions from the start.

        Records that arrive while this runs are ignored: the final seek delivers them again.
        """
        self.tenure.assigning()
        try:
            async with self.tenure.busy:
                await self._rebuild(consumer, assigned)
        finally:
            self.tenure.assigned()
        log.info(
            "partitions assigned; replaying",
            extra={
                "partitions": sorted(str(tp) for tp in assigned),
                "categories": sorted(self.tenure.owned_categories()),
            },
        )

    async def _rebuild(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        self.consumer = consumer
        self._forget_owned()
        self._follow_partition_count(consumer, assigned)
        targets = await consumer.end_offsets(list(assigned)) if assigned else {}
        partitions = {tp.partition for tp in assigned}
        await self.fences.claim_all(self.tenure.categories_of(partitions))
        if self.risk is not None:
            await self.risk.load(partitions)
        if self.history is not None:
            try:
                await self.history.load(partitions)
            except Exception as error:  # Redis or Kafka away: verification rebuilds it later
                log.warning("history not rebuilt at assignment; retried by verification: %r", error)
        self.tenure.own(targets)
        if assigned:
            await consumer.seek_to_beginning(*assigned)

    def _follow_partition_count(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Take the input topics' partition count from the consumer's metadata: after the partitions
        grow, the group rebalances and categories are owned (and published) where they now live."""
        counts = [len(consumer.partitions_for_topic(t) or ()) for t in {tp.topic for tp in assigned}]
        count = max(counts, default=0)
        if count and count != self.tenure.partition_count:
            log.warning(
                "partition count changed",
                extra={"partitions_before": self.tenure.partition_count, "partitions": count},
            )
            self.tenure.partition_count = count
            if self.risk is not None:
                self.risk.publisher.partitions = count
            if self.history is not None:
                self.history.partitions = count

    async def on_revoked(self) -> None:
        """Stop writing (a write in flight ends after its current model), then forget everything."""
        self.tenure.revoked()
        async with self.tenure.busy:
            self._forget_owned()

    def _forget_owned(self) -> None:
        """Drop every input, pending recompute, pointer and exported gauge of the partitions held
        so far (revoked, or about to be replayed from the start)."""
        self.state.forget(set(self.state.categories))
        self.tenure.release()
        self.pending.clear()
        self.fences.forget()
        self.materialiser.forget()
        if self.risk is not None:
            self.risk.forget()
        if self.history is not None:
            self.history.forget()
        RISK_MODELS.clear()  # exported again by the owner's first write of each category
        self.lag.forget()  # no lag series outlives the ownership of its partition
        forget_categories()

    # -- records -----------------------------------------------------------------------------
    async def handle_records(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Apply a batch (bursts coalesce here), then let the materialiser recompute."""
        if self.tenure.loading:
            return
        await self.intake.apply(records, now=datetime.now(UTC))
        if self.consumer is not None:
            await self.intake.track(self.consumer, {TopicPartition(r.topic, r.partition) for r in records})
        self.wakeup.set()

    async def dead_letter(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        """Move a poison record to its ``.dlq`` topic (``services.analytics.dead_letters``); go on."""
        await publish_dead_letter(
            self.broker,
            self.topics.spec(record.topic).dead_letter,
            record,
            error,
            consumer=self.consumer_name,
            max_message_bytes=self.kafka_settings.max_message_bytes if self.kafka_settings else None,
        )

    # -- the loop ----------------------------------------------------------------------------
    async def materialise_forever(self, stop: asyncio.Event) -> None:
        """Recompute dirty categories that are caught up, and verify Redis every few seconds.

        Nothing here may end the loop: a failure (Redis or Kafka unavailable) is logged and the
        work is retried after a capped exponential backoff (``shared.backoff``).
        """
        verified_at = time.monotonic()
        lag_at = float("-inf")
        failing = Backoff()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
            self.wakeup.clear()
            try:
                # New inputs first: the periodic chores below never delay the snapshot that woke us.
                await self.materialiser.materialise_ready()
                if time.monotonic() - verified_at >= self.verify_interval_seconds:
                    verified_at = time.monotonic()
                    if await self.materialiser.verify():
                        self.wakeup.set()
                failing.reset()
            except Exception:
                delay = failing.next_delay()
                log.exception("materialising failed; retrying", extra={"retry_in_seconds": round(delay, 2)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            if not stop.is_set() and time.monotonic() - lag_at >= self.lag_interval_seconds:
                lag_at = time.monotonic()
                await self.measure_lag()

    async def measure_lag(self) -> None:
        """Export the owned partitions' lag from the broker's end offsets (a stalled consumer's grows).

        A failure is logged and the next tick tries again; a rebalance during the read drops it."""
        consumer, epoch = self.consumer, self.tenure.epoch
        if consumer is None or not self.tenure.settled:
            return
        try:
            lags = await asyncio.wait_for(
                measure_lag(consumer, self.tenure.targets), self.lag_interval_seconds
            )
        except Exception as error:
            log.warning(
                "measuring the consumer lag failed", extra={"error": f"{type(error).__name__}: {error}"}
            )
            return
        if self.tenure.still_owned(epoch):
            self.lag.export(lags)
