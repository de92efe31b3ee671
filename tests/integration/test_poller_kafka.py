"""The poller against the real broker and the in-process AI Horde stand-in.

Each test publishes to its own topics (``PollerTopics`` with a unique suffix) and reads them back
with a plain aiokafka consumer, so what is asserted is exactly what reaches Kafka.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.consumer import fetcher
from faststream.kafka import KafkaBroker

from devtools.horde_standin.app import create_app
from devtools.horde_standin.scenario import Scenario, load_frame, set_model_counts
from devtools.horde_standin.state import StandinState
from services.poller.app import serve
from services.poller.budget import RequestBudget
from services.poller.client import HordeApiClient
from services.poller.polling import Poller, PollOutcome
from services.poller.publishing import PollerTopics, broker_publisher
from shared.events.cloudevents import CloudEventAttributes
from shared.events.horde import HordeStatusCaptured, SourceHealthReported
from shared.kafka import ensure_topics, make_broker
from shared.settings import HordeApiSettings, KafkaSettings, RedisSettings, Settings
from shared.topics import TopicSpec, partition_for_model_type
from tests.support.kafka_broker import KafkaInfo
from tests.unit.poller.support import BASE_URL, SYNTHETIC

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ZSTD = 4  # Kafka record-batch attribute codec id


def unique_topics(unique: str) -> PollerTopics:
    def spec(name: str, compacted: bool) -> TopicSpec:
        return TopicSpec(f"test.poller.{name}.{unique}", compacted=compacted, description="test")

    return PollerTopics(
        spec("status", True), spec("stats", True), spec("workers", True), spec("health", False)
    )


def kafka_settings(kafka: KafkaInfo) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=kafka.supports_idempotence
    )


def standin() -> tuple[httpx.ASGITransport, StandinState]:
    first = load_frame(SYNTHETIC)
    name = first["status_models_image"][0]["name"]
    app = create_app(Scenario.from_frames([SYNTHETIC, set_model_counts(first, "image", {name: 4242})]))
    state: StandinState = app.state.standin
    return httpx.ASGITransport(app=app), state


@asynccontextmanager
async def poller_on(kafka: KafkaInfo, topics: PollerTopics) -> AsyncIterator[tuple[Poller, StandinState]]:
    settings = kafka_settings(kafka)
    await ensure_topics(settings, topics.all())
    transport, state = standin()
    api = HordeApiSettings(base_url=BASE_URL, contact="it@example.org")
    client = HordeApiClient(api, RequestBudget(api.max_requests_per_minute), transport=transport)
    broker: KafkaBroker = make_broker(settings, client_id="test-poller")
    await broker.start()
    try:
        yield (
            Poller(
                client, broker_publisher(broker), api, partitions=settings.topic_partitions, topics=topics
            ),
            state,
        )
    finally:
        await client.aclose()
        await broker.stop()


async def read_all(
    kafka: KafkaInfo, topic: str, expected: int, *, settle_ms: int = 1000
) -> list[ConsumerRecord[Any, Any]]:
    """Every record of ``topic``: wait (bounded) for ``expected``, then make sure no more arrive."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
        for batch in (await consumer.getmany(timeout_ms=settle_ms)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def batch_codecs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Codec ids of every record batch the consumers fetch (spy on aiokafka's batch parser)."""
    codecs: list[int] = []
    real = fetcher.MemoryRecords

    class Spy:
        def __init__(self, data: bytes) -> None:
            self._inner = real(data)

        def has_next(self) -> bool:
            return bool(self._inner.has_next())

        def next_batch(self) -> Any:
            batch = self._inner.next_batch()
            if batch is not None:
                codecs.append(batch.compression_type)
            return batch

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    monkeypatch.setattr(fetcher, "MemoryRecords", Spy)
    return codecs


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_publishes_on_change_only_with_key_partition_and_cloudevents(
    kafka: KafkaInfo, unique: str, batch_codecs: list[int]
) -> None:
    topics = unique_topics(unique)
    async with poller_on(kafka, topics) as (poller, state):
        assert await poller.poll_once("status", "image") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "image") is PollOutcome.UNCHANGED
        state.set_frame(1)
        assert await poller.poll_once("status", "image") is PollOutcome.PUBLISHED
        assert await poller.poll_once("status", "text") is PollOutcome.PUBLISHED
    records = await read_all(kafka, topics.status.name, 3)
    assert len(records) == 3
    health = [
        SourceHealthReported.model_validate_json(r.value)
        for r in await read_all(kafka, topics.health.name, 4)
    ]
    # Order holds within a partition (one per model type), not across them.
    confirmed = {
        t: [(h.endpoint, h.ok, h.consecutive_failures) for h in health if h.model_type == t]
        for t in ("image", "text")
    }
    assert confirmed == {"image": [("status", True, 0)] * 3, "text": [("status", True, 0)]}, (
        "every successful poll is confirmed, whether or not the snapshot changed"
    )
    image_checks = [h.checked_at for h in health if h.model_type == "image"]
    assert image_checks == sorted(image_checks)
    assert len(set(image_checks)) == 3
    by_type = {r.key: [x for x in records if x.key == r.key] for r in records}
    image, text = by_type[b"image"], by_type[b"text"]
    assert len(image) == 2
    assert len(text) == 1
    assert {r.partition for r in image} == {partition_for_model_type("image", 4)}
    assert {r.partition for r in text} == {partition_for_model_type("text", 4)}
    events = [HordeStatusCaptured.model_validate_json(r.value) for r in image]
    assert events[0].content_hash != events[1].content_hash
    assert 4242 in {e.count for e in events[1].entries}
    for record, event in zip(image, events, strict=True):
        attributes = CloudEventAttributes.from_headers(headers_of(record))
        assert attributes.id == f"status:image:{event.content_hash}"
        assert attributes.source == "/horde-model-analytics/poller"
        assert attributes.type == f"net.aihorde.analytics.{topics.status.name}"
        assert attributes.subject == "image"
        assert attributes.time == event.captured_at
        assert event.source_url == f"{BASE_URL}/v2/status/models?type=image&model_state=known"
    assert batch_codecs
    assert set(batch_codecs) == {ZSTD}


async def test_malformed_payload_publishes_health_not_a_snapshot(kafka: KafkaInfo, unique: str) -> None:
    topics = unique_topics(unique)
    async with poller_on(kafka, topics) as (poller, state):
        assert await poller.poll_once("stats", "text") is PollOutcome.PUBLISHED
        state.faults.add({"kind": "truncated_json", "endpoint": "stats"})
        state.set_frame(1)
        assert await poller.poll_once("stats", "text") is PollOutcome.FAILED
        state.faults.clear()
        assert await poller.poll_once("stats", "text") is PollOutcome.UNCHANGED
    snapshots = await read_all(kafka, topics.stats.name, 1)
    assert len(snapshots) == 1
    health = [
        SourceHealthReported.model_validate_json(r.value)
        for r in await read_all(kafka, topics.health.name, 3)
    ]
    assert [(h.endpoint, h.model_type, h.ok, h.consecutive_failures) for h in health] == [
        ("stats", "text", True, 0),
        ("stats", "text", False, 1),
        ("stats", "text", True, 0),
    ]
    assert health[0].error is None
    assert health[1].error is not None
    assert "invalid payload at body" in health[1].error
    assert health[1].last_success_at == health[0].last_success_at


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_service_serves_probes_polls_and_exits_cleanly_on_sigterm(
    kafka: KafkaInfo, redis_url: str, unique: str
) -> None:
    topics = unique_topics(unique)
    transport, _ = standin()
    port = free_port()
    settings = Settings(
        http_host="127.0.0.1",
        http_port=port,
        kafka=kafka_settings(kafka),
        redis=RedisSettings(url=redis_url, key_prefix=f"poller{unique}"),
        horde_api=HordeApiSettings(base_url=BASE_URL, contact="it@example.org"),
    )
    service = asyncio.create_task(serve(settings, topics=topics, transport=transport))
    try:
        records = await read_all(kafka, topics.workers.name, 2, settle_ms=0)
        assert sorted(r.key for r in records) == [b"image", b"text"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/readyz")
            metrics = await http.get("/metrics")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"kafka": True, "redis": True}
        assert 'hma_leader{service="poller"} 1.0' in metrics.text
        assert 'hma_snapshots_published_total{endpoint="workers",model_type="text"}' in metrics.text
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(service, timeout=15) == 0
    finally:
        if not service.done():
            service.cancel()
