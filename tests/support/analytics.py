"""Helpers for tests that drive analytics workers through real Kafka and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import BaseModel

from shared.domain.categories import ModelCategory
from shared.events.horde import HordeStatsCaptured, HordeStatusCaptured, HordeWorkersCaptured
from shared.events.reference import ReferenceCategoryChanged
from shared.kafka import encode_key, make_broker, publish_event
from shared.settings import Settings
from shared.store.generations import GenerationStore
from shared.topics import (
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    partition_for,
)
from tests.support.events import DATA, reference_event, stats_event, status_event, synthetic
from tests.support.kafka_broker import KafkaInfo

_TOPIC_OF = {
    ReferenceCategoryChanged: REFERENCE_CHANGED,
    HordeStatusCaptured: HORDE_STATUS_CAPTURED,
    HordeStatsCaptured: HORDE_STATS_CAPTURED,
    HordeWorkersCaptured: HORDE_WORKERS_CAPTURED,
}


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """One analytics replica running in this process for the duration of the block."""
    from services.analytics.app import run

    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop))
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            pytest.fail("the analytics worker did not stop within 30 s of its stop event")


def worker_settings(kafka: KafkaInfo, redis_url: str, unique: str, *, group: str | None = None) -> Settings:
    """Settings of a worker isolated by topic prefix, key prefix and consumer group."""
    env = kafka.env()
    return Settings(
        http_host="127.0.0.1",
        http_port=0,
        log_json=False,
        kafka={
            "bootstrap_servers": kafka.bootstrap_servers,
            "topic_prefix": f"t{unique}.",
            "enable_idempotence": kafka.supports_idempotence,
            "transactions": kafka.supports_transactions,
            "session_timeout_ms": int(env["HORDE_KAFKA__SESSION_TIMEOUT_MS"]),
            "heartbeat_interval_ms": int(env["HORDE_KAFKA__HEARTBEAT_INTERVAL_MS"]),
            "rebalance_timeout_ms": int(env["HORDE_KAFKA__REBALANCE_TIMEOUT_MS"]),
        },
        redis={"url": redis_url, "key_prefix": f"k{unique}"},
        analytics={"consumer_group": group or f"g{unique}"},
    )


async def publish_input(settings: Settings, event: BaseModel, *, event_id: str | None = None) -> None:
    """Publish one input event the way its producer does (key, partition, headers)."""
    if isinstance(event, ReferenceCategoryChanged):
        category, key, moment = event.category, event.category.value, event.detected_at
    else:
        assert isinstance(event, HordeStatusCaptured | HordeStatsCaptured | HordeWorkersCaptured)
        category = (
            ModelCategory.IMAGE_GENERATION if event.model_type == "image" else ModelCategory.TEXT_GENERATION
        )
        key, moment = event.model_type, event.captured_at
    spec = _TOPIC_OF[type(event)].with_prefix(settings.kafka.topic_prefix)
    broker = make_broker(settings.kafka, client_id="test-producer")
    async with broker:
        await publish_event(
            broker, spec, event, key=encode_key(key),
            partition=partition_for(category, settings.kafka.topic_partitions),
            event_id=event_id or getattr(event, "content_hash", None) or getattr(event, "version", "x"),
            time=moment, producer="test",
        )  # fmt: skip


async def wait_for_view(
    store: GenerationStore,
    category: ModelCategory,
    view: str,
    predicate: Callable[[Any], bool] | None = None,
    within: float = 60,
) -> tuple[str, Any]:
    """The first (generation, decoded view) for which ``predicate`` holds."""

    async def poll() -> tuple[str, Any]:
        while True:
            current = await store.current(category)
            if current is not None:
                body = await store.view(category, current.generation, view)
                if body is not None:
                    decoded = json.loads(body)
                    if predicate is None or predicate(decoded):
                        return current.generation, decoded
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), within)


async def read_topic(
    bootstrap: str, topic: str, *, idle_seconds: float = 3.0, within: float = 60, committed: bool = False
) -> list[tuple[bytes | None, bytes | None, dict[str, str]]]:
    """Every record of ``topic`` until none arrived for ``idle_seconds`` (``committed``: as a
    read_committed consumer sees them, without the records of aborted transactions)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
        isolation_level="read_committed" if committed else "read_uncommitted",
    )  # fmt: skip
    await consumer.start()
    records: list[tuple[bytes | None, bytes | None, dict[str, str]]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last = loop.time()
        while loop.time() < deadline and loop.time() - last < idle_seconds:
            batch = await consumer.getmany(timeout_ms=300)
            for part in batch.values():
                for record in part:
                    records.append((record.key, record.value, {k: v.decode() for k, v in record.headers}))
                    last = loop.time()
    finally:
        await consumer.stop()
    return records


async def publish_previous_image(settings: Settings, store: GenerationStore) -> None:
    """Publish the previous image reference (160 models) with the synthetic stats and status, and
    wait until its deletion risk is materialised: the baseline before a reference change."""
    image = ModelCategory.IMAGE_GENERATION
    previous = DATA / "reference/previous/image/stable_diffusion.json"
    await publish_input(settings, reference_event(image, previous))
    await publish_input(settings, stats_event(synthetic("stats_models_image.json")))
    await publish_input(settings, status_event(synthetic("status_models_image.json")))
    await wait_for_view(store, image, "deletion-risk", lambda b: b["total_count"] == 160)
