"""Analytics at its edges (issue 13): a poison record too large to dead-letter whole is truncated
with its coordinates kept, and a worker started while Kafka is down waits, not ready, instead of
exiting."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from devtools.devstack.ports import free_port
from shared.domain.categories import ModelCategory
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import HORDE_STATUS_CAPTURED, partition_for
from tests.support.analytics import publish_input, running_worker, wait_for_view
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
IMAGE = ModelCategory.IMAGE_GENERATION
LIMIT = 1024 * 1024


async def test_a_poison_record_too_large_to_dead_letter_is_truncated_with_its_coordinates(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo
) -> None:
    """Limit shortened to 1 MiB here; ``tests/chaos/test_poison_and_late_broker.py`` sends 20 MB at the
    production limit."""
    small = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"max_message_bytes": LIMIT})}
    )
    spec = HORDE_STATUS_CAPTURED.with_prefix(settings.kafka.topic_prefix)
    poison = b'{"schema_version": 1, "entries": "' + b"x" * (3 * LIMIT) + b'"}'
    async with running_worker(small):
        await publish_input(small, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        await publish_input(small, stats_event(synthetic("stats_models_image.json")))
        await publish_input(small, status_event(synthetic("status_models_image.json")))
        await wait_for_view(store, IMAGE, "with-stats")
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, compression_type="zstd", max_request_size=8 * LIMIT
        )
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                spec.name,
                poison,
                key=b"image",
                partition=partition_for(IMAGE, settings.kafka.topic_partitions),
            )
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            spec.dead_letter, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest",
            group_id=None, max_partition_fetch_bytes=8 * LIMIT, fetch_max_bytes=16 * LIMIT,
        )  # fmt: skip
        await consumer.start()
        try:
            records = []
            while not records:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 60)
                records += [r for part in batch.values() for r in part]
        finally:
            await consumer.stop()
    headers = {k: v.decode() for k, v in records[0].headers}
    assert headers["dlq_truncated"] == "true"
    assert headers["dlq_original_bytes"] == str(len(poison))
    assert (headers["dlq_source_topic"], headers["dlq_source_partition"], headers["dlq_source_offset"]) == (
        spec.name, str(sent.partition), str(sent.offset))  # fmt: skip
    assert records[0].value == poison[: LIMIT // 2]


async def test_a_worker_started_while_kafka_is_down_waits_not_ready_then_stops_cleanly(
    settings: Settings,
) -> None:
    """Nothing listens on the bootstrap port: the worker keeps retrying with backoff, its
    ``/readyz`` answers 503, and a stop request ends it with exit code 0 (not 1)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    port = free_port()
    down = settings.model_copy(
        update={
            "http_port": port,
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{dead_port}"}),
        }
    )
    from services.analytics.app import run

    stop = asyncio.Event()
    task = asyncio.create_task(run(down, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers: list[int] = []
            for _ in range(100):
                await asyncio.sleep(0.1)
                try:
                    answers.append((await client.get("/readyz")).status_code)
                except httpx.TransportError:
                    continue
                if len(answers) >= 5:
                    break
            assert not task.done(), "the worker exited while Kafka was down"
            assert answers
            assert set(answers) == {503}, answers
    finally:
        stop.set()
    assert await asyncio.wait_for(task, 30) == 0


async def test_a_failed_dead_letter_publish_is_an_error_with_the_coordinates(
    settings: Settings, store: GenerationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The producer refuses even the truncated value (its request limit is below it): the failure
    is one ERROR record whose fields name the record, and the worker goes on."""
    from faststream.kafka import KafkaBroker

    from services.analytics.inputs import InputTopics, PoisonRecordError
    from services.analytics.worker import AnalyticsWorker
    from shared.domain.risk.thresholds import RiskThresholds

    topics = InputTopics.with_prefix(settings.kafka.topic_prefix)
    tiny = KafkaBroker(settings.kafka.bootstrap_servers, max_request_size=64 * 1024)
    worker = AnalyticsWorker(
        topics=topics, partitions=settings.kafka.topic_partitions, store=store, thresholds=RiskThresholds(),
        broker=tiny, consumer_name="edge-test", kafka_settings=settings.kafka,
    )  # fmt: skip
    record = ConsumerRecord(
        topics.status.name, 0, 42, 0, 0, b"image", b"x" * (2 * 1024 * 1024), None, 5, 2 * 1024 * 1024, []
    )
    async with tiny:
        with caplog.at_level("ERROR", logger="services.analytics.dead_letters"):
            await worker.dead_letter(record, PoisonRecordError("not a status snapshot"))
    failures = [r for r in caplog.records if r.getMessage().startswith("dead-letter publish failed")]
    assert len(failures) == 1
    fields = vars(failures[0])
    assert failures[0].levelname == "ERROR"
    assert (fields["topic"], fields["partition"], fields["offset"]) == (topics.status.name, 0, 42)
    assert fields["error_type"] == "MessageSizeTooLargeError"
    assert fields["dead_letter_topic"] == topics.status.dead_letter


async def test_failing_redis_writes_are_retried_with_growing_delays(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis refuses every connection: each failed recompute of the category is retried after a
    delay that doubles (0.5 s, 1 s, 2 s, … jittered within [d/2, d]), not about twice a second."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    closed.close()
    no_redis = settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": dead})})

    def delays() -> list[float]:
        return [
            float(vars(r)["retry_in_seconds"])
            for r in caplog.records
            if r.getMessage().startswith("recompute of") and vars(r).get("category") == IMAGE.value
        ]

    with caplog.at_level("ERROR", logger="services.analytics.materialiser"):
        async with running_worker(no_redis):
            await publish_input(
                no_redis, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json")
            )
            await publish_input(no_redis, stats_event(synthetic("stats_models_image.json")))
            await publish_input(no_redis, status_event(synthetic("status_models_image.json")))
            for _ in range(600):
                if len(delays()) >= 4:
                    break
                await asyncio.sleep(0.1)
    found = delays()
    assert len(found) >= 4, found
    for attempt, delay in enumerate(found[:4]):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling, found


async def test_a_dead_letter_keeps_every_original_header_and_adds_the_reason(
    settings: Settings, store: GenerationStore, kafka: KafkaInfo
) -> None:
    """CloudEvents, trace and leader headers of a poison record travel to ``<topic>.dlq`` (issue 15)."""
    spec = HORDE_STATUS_CAPTURED.with_prefix(settings.kafka.topic_prefix)
    original = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"status:image:poison"),
        ("ce_source", b"/horde-model-analytics/poller"),
        ("ce_type", b"net.aihorde.analytics.horde.model-status.captured.v1"),
        ("ce_time", b"2026-12-06T00:00:00Z"),
        ("ce_subject", b"image"),
        ("content-type", b"application/json"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("tracestate", b"vendor=value"),
        ("hma_leader_token", b"17"),
    ]
    async with running_worker(settings):
        await publish_input(settings, reference_event(IMAGE, DATA / "reference/image/stable_diffusion.json"))
        await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
        await publish_input(settings, status_event(synthetic("status_models_image.json")))
        await wait_for_view(store, IMAGE, "with-stats")
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                spec.name, b'{"schema_version": 1, "entries": "oops"}', key=b"image",
                partition=partition_for(IMAGE, settings.kafka.topic_partitions), headers=original,
            )  # fmt: skip
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            spec.dead_letter, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest",
            group_id=None,
        )  # fmt: skip
        await consumer.start()
        try:
            records = []
            while not records:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 60)
                records += [r for part in batch.values() for r in part]
        finally:
            await consumer.stop()
    headers = dict(records[0].headers)
    for name, value in original:
        assert headers[name] == value, name
    assert headers["dlq_error_type"] == b"PoisonRecordError"
    assert (headers["dlq_source_topic"], headers["dlq_source_partition"], headers["dlq_source_offset"]) == (
        spec.name.encode(), str(sent.partition).encode(), str(sent.offset).encode())  # fmt: skip
    assert records[0].key == b"image"
