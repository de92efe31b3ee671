"""Wiring of the analytics service: input consumer, broker (publishing), Redis store, probes, AsyncAPI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.analytics.consumer import input_consumer, run_consumer
from services.analytics.history import HistoryRecorder, load_mod_dates
from services.analytics.inputs import InputTopics
from services.analytics.partition_producers import PartitionProducers
from services.analytics.risk_events import RiskChangePublisher
from services.analytics.worker import AnalyticsWorker
from shared.asyncapi import build_document
from shared.backoff import Backoff
from shared.kafka import ensure_topics, make_broker, make_producer
from shared.runtime import ops_app, run_service
from shared.settings import Settings
from shared.store.analytics import AnalyticsStores
from shared.topics import ALL_TOPICS, HISTORY_DAILY, RISK_CHANGED, RISK_CURRENT, TopicSpec

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run one analytics replica until SIGTERM (or until ``stop`` is set)."""
    topics = InputTopics.with_prefix(settings.kafka.topic_prefix)
    broker = make_broker(settings.kafka, client_id=f"analytics-{socket.gethostname()}")
    stores = AnalyticsStores.open(settings.redis)
    producer = make_producer(settings.kafka, client_id=f"analytics-{socket.gethostname()}-risk")
    risk = RiskChangePublisher(
        changed=RISK_CHANGED.with_prefix(settings.kafka.topic_prefix),
        current=RISK_CURRENT.with_prefix(settings.kafka.topic_prefix),
        partitions=settings.kafka.topic_partitions,
        stream=stores.risk_events,
        producer=producer,
        transactions=(
            PartitionProducers(settings.kafka, client_id=f"analytics-{socket.gethostname()}")
            if settings.kafka.transactions
            else None
        ),
    )
    history = HistoryRecorder(
        store=stores.history,
        broker=broker,
        spec=HISTORY_DAILY.with_prefix(settings.kafka.topic_prefix),
        kafka_settings=settings.kafka,
        partitions=settings.kafka.topic_partitions,
        retention_days=settings.history.retention_days,
        consumer_name=socket.gethostname(),
        tombstones=producer,
        policy=settings.history,
        mod_dates=load_mod_dates(settings.history.mod_data_path),
    )
    worker = AnalyticsWorker(
        history=history,
        risk=risk,
        kafka_settings=settings.kafka,
        topics=topics,
        partitions=settings.kafka.topic_partitions,
        store=stores.generations,
        thresholds=settings.risk,
        broker=broker,
        consumer_name=socket.gethostname(),
        verify_interval_seconds=settings.analytics.verify_interval_seconds,
        max_future_seconds=settings.analytics.max_future_seconds,
    )
    consumer: AIOKafkaConsumer | None = None

    async def kafka_ready() -> bool:
        return bool(await broker.ping(timeout=2))

    async def redis_ready() -> bool:
        return await stores.ping()

    async def asyncapi(_: Request) -> Response:
        return Response(json.dumps(build_document()), media_type="application/json")

    http = ops_app(
        {"kafka": kafka_ready, "redis": redis_ready},
        [Route("/docs/asyncapi.json", asyncapi, methods=["GET"])],
    )

    async def connect() -> None:
        """Topics, the tombstone producer, the broker and the consumer group member; fresh clients
        per attempt."""
        nonlocal consumer
        if settings.kafka.create_topics:
            await ensure_topics(settings.kafka, tuple(spec for spec in _all_topics(settings)))
        with contextlib.suppress(Exception):  # the previous attempt's (or the unstarted first) producer
            await risk.producer.stop()
        # One producer for risk records and history tombstones: both must hold the started one.
        risk.producer = history.tombstones = make_producer(
            settings.kafka, client_id=f"analytics-{socket.gethostname()}-risk"
        )
        consumer = input_consumer(settings, worker, client_id=f"analytics-{socket.gethostname()}")
        try:
            await risk.producer.start()
            await broker.start()
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await risk.producer.stop()
            raise

    async def main(stop: asyncio.Event) -> None:
        try:
            if not await start_when_kafka_answers(connect, stop):
                return
            assert consumer is not None
            await asyncio.gather(
                run_consumer(consumer, worker, settings, stop), worker.materialise_forever(stop)
            )
        finally:
            await broker.stop()
            await risk.close()
            await risk.producer.stop()
            await stores.aclose()

    return await run_service(
        "analytics",
        http,
        host=settings.http_host,
        port=settings.http_port,
        main=main,
        stop=stop,
        ops_port=settings.ops_port,
    )


async def start_when_kafka_answers(
    connect: Callable[[], Awaitable[None]], stop: asyncio.Event, *, backoff: Backoff | None = None
) -> bool:
    """Run ``connect`` until it succeeds, waiting with capped exponential backoff in between:
    started while Kafka is down, the worker waits (``/readyz`` says not ready) instead of exiting.
    Returns ``False`` when ``stop`` was set first."""
    backoff = backoff or Backoff(initial=0.5, cap=5.0)
    while not stop.is_set():
        try:
            await connect()
        except Exception as error:
            delay = backoff.next_delay()
            log.warning(
                "Kafka not reachable at start; retrying",
                extra={"error": f"{type(error).__name__}: {error}", "retry_in_seconds": round(delay, 2),
                       "attempts": backoff.failures},
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            continue
        if backoff.failures:
            log.info("Kafka reachable; starting", extra={"attempts": backoff.failures + 1})
        return True
    return False


def _all_topics(settings: Settings) -> list[TopicSpec]:
    return [spec.with_prefix(settings.kafka.topic_prefix) for spec in ALL_TOPICS]


#: The name tests and tools used before the services shared one bootstrap shape.
run = serve
