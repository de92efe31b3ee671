"""The analytics consumer loop: plain aiokafka, driven by hand (README, "Kafka model").

The worker needs what a framework subscriber hides: the rebalance callbacks with the live consumer
(replay from the beginning, fencing), raw records (it decodes them itself to dead-letter bad ones)
and batches as they come. So one ``AIOKafkaConsumer`` per replica joins the group with the range
assignor (one member owns all inputs of a category) and hands each fetched batch to the worker;
faststream is used for publishing and the AsyncAPI document only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.analytics.worker import AnalyticsWorker
from shared.kafka import consumer_options, kafka_client_options
from shared.settings import Settings

log = logging.getLogger(__name__)


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Connects the group's rebalances to the worker, with the consumer they happen on."""

    def __init__(self, worker: AnalyticsWorker, consumer: AIOKafkaConsumer) -> None:
        self.worker = worker
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(self.consumer, assigned)


def input_consumer(settings: Settings, worker: AnalyticsWorker, *, client_id: str) -> AIOKafkaConsumer:
    """One consumer-group member subscribed to the worker's input topics (not started)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        client_id=client_id,
        group_id=settings.analytics.consumer_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        partition_assignment_strategy=(RangePartitionAssignor,),
        rebalance_timeout_ms=settings.kafka.rebalance_timeout_ms,
        **consumer_options(settings.kafka),
        **kafka_client_options(settings.kafka),
    )
    consumer.subscribe([spec.name for spec in worker.topics.all()], listener=_Rebalances(worker, consumer))
    return consumer


async def consume(
    consumer: AIOKafkaConsumer, worker: AnalyticsWorker, settings: Settings, stop: asyncio.Event
) -> None:
    """Fetch batches (up to ``batch_max_records``, waiting at most ``batch_timeout_ms``) and apply
    them until ``stop``; offsets are committed after the worker took a batch (for lag tooling: the
    worker itself replays from the beginning on every assignment)."""
    while not stop.is_set():
        batch = await consumer.getmany(
            timeout_ms=settings.analytics.batch_timeout_ms, max_records=settings.analytics.batch_max_records
        )
        records: tuple[Any, ...] = tuple(r for part in batch.values() for r in part)
        if not records:
            continue
        await worker.handle_records(records)
        try:
            await consumer.commit({tp: part[-1].offset + 1 for tp, part in batch.items() if part})
        except Exception as error:  # a rebalance took the partitions meanwhile: the next owner replays
            log.info("offsets not committed", extra={"error": f"{type(error).__name__}: {error}"})


async def run_consumer(
    consumer: AIOKafkaConsumer, worker: AnalyticsWorker, settings: Settings, stop: asyncio.Event
) -> None:
    """Consume until ``stop``, then leave the group (the consumer is started already)."""
    try:
        await consume(consumer, worker, settings, stop)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
