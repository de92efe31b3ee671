"""Consumer lag is read from the broker on a timer, not only when records arrive, and a revoked
partition's series disappears (issue 15; the ``HmaConsumerLagGrowing`` alert reads this gauge)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from services.analytics.inputs import InputTopics
from services.analytics.lag import LAG_INTERVAL_SECONDS, LagGauge, measure_lag
from services.analytics.worker import AnalyticsWorker
from shared.domain.risk.thresholds import RiskThresholds
from shared.settings import Settings
from shared.store.generations import GenerationStore
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def exported(tp: TopicPartition) -> float | None:
    return REGISTRY.get_sample_value(
        "hma_consumer_lag_records", {"topic": tp.topic, "partition": str(tp.partition)}
    )


async def produce(kafka: KafkaInfo, tp: TopicPartition, count: int) -> None:
    """One acknowledged record at a time (the end offsets of every broker are then exact)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(
                tp.topic, b"{}", key=b"image", partition=tp.partition, headers=[("n", b"%d" % n)]
            )
    finally:
        await producer.stop()


async def wait_for_lag(tp: TopicPartition, lag: float) -> None:
    """Poll the exported gauge (bounded: several timer periods at the production interval)."""
    for _ in range(int(12 * LAG_INTERVAL_SECONDS * 10)):
        if exported(tp) == lag:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"lag of {tp} is {exported(tp)}, never {lag}")


async def stalled_consumer(kafka: KafkaInfo, tp: TopicPartition) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    consumer.assign([tp])
    return consumer


async def test_a_consumer_that_reads_nothing_shows_its_lag_growing(
    settings: Settings, kafka: KafkaInfo
) -> None:
    tp = TopicPartition(InputTopics.with_prefix(settings.kafka.topic_prefix).status.name, 1)
    consumer = await stalled_consumer(kafka, tp)
    gauge = LagGauge()
    try:
        assert await measure_lag(consumer, [tp]) == {tp: 0}
        await produce(kafka, tp, 3)
        assert await measure_lag(consumer, [tp]) == {tp: 3}
        await produce(kafka, tp, 2)
        gauge.export(await measure_lag(consumer, [tp]))
        assert exported(tp) == 5
        gauge.export({})
        assert exported(tp) is None
    finally:
        gauge.forget()
        await consumer.stop()


async def test_the_worker_exports_a_stalled_partitions_growing_lag_and_clears_it_on_revoke(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo
) -> None:
    """The worker's own timer, at the production interval, reads the lag of an owned partition
    whose records are not consumed; the revocation removes the series and the timer does not bring
    it back."""
    topics = InputTopics.with_prefix(settings.kafka.topic_prefix)
    tp = TopicPartition(topics.status.name, 1)
    broker = KafkaBroker(settings.kafka.bootstrap_servers)
    worker = AnalyticsWorker(
        topics=topics, partitions=settings.kafka.topic_partitions, store=store, thresholds=RiskThresholds(),
        broker=broker, consumer_name="lag-test", kafka_settings=settings.kafka,
    )  # fmt: skip
    assert worker.lag_interval_seconds == LAG_INTERVAL_SECONDS
    consumer = await stalled_consumer(kafka, tp)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.materialise_forever(stop))
    try:
        await worker.on_assigned(consumer, {tp})
        await wait_for_lag(tp, 0)
        await produce(kafka, tp, 4)
        await wait_for_lag(tp, 4)
        await produce(kafka, tp, 3)
        await wait_for_lag(tp, 7)
        await worker.on_revoked()
        assert exported(tp) is None
        await worker.measure_lag()
        assert exported(tp) is None
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
        worker.lag.forget()
        await consumer.stop()
