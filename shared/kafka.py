"""Kafka plumbing shared by the services: broker factory, topic provisioning, event publishing.

Producers always use ``acks=all`` and zstd, sized by ``KafkaSettings.max_message_bytes`` so the
largest real snapshot fits on Apache Kafka (topic ``max.message.bytes`` is set to the same value).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import BaseModel

from shared import tracing
from shared.events.cloudevents import CloudEventAttributes, event_type
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, TopicSpec

log = logging.getLogger(__name__)

#: CloudEvents ``source`` of each of our producers.
SOURCE_PREFIX = "/horde-model-analytics/"


def encode_key(*parts: str) -> bytes:
    """Record key from its parts joined by ``/`` (always bytes: aiokafka needs them)."""
    return "/".join(parts).encode()


def canonical_json(value: Any) -> bytes:
    """Stable JSON bytes (sorted keys, no spaces) used for content hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(value: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _faststream_security(options: Mapping[str, Any]) -> BaseSecurity | None:
    """The same connection options (``kafka_client_options``) in the shape faststream's broker takes
    (it also documents them in AsyncAPI): not a second translation of the settings."""
    protocol = options.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context = options.get("ssl_context")
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    return kinds[options["sasl_mechanism"]](
        options["sasl_plain_username"], options["sasl_plain_password"], use_ssl=use_ssl, ssl_context=context
    )


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """Every producer's guarantees and sizing (aiokafka keyword arguments), faststream's included."""
    return {
        "acks": "all",
        "enable_idempotence": settings.enable_idempotence,
        "compression_type": "zstd",
        "max_request_size": settings.max_message_bytes + 64 * 1024,
    }


def make_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    """A faststream broker with our producer guarantees; subscribers ack after their handler."""
    connection = kafka_client_options(settings)
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        **producer_options(settings),
        linger_ms=5,  # concurrent publishes of one poll share a request
        request_timeout_ms=30_000,
        metadata_max_age_ms=connection["metadata_max_age_ms"],
        ack_policy=AckPolicy.ACK,
        allow_auto_create_topics=False,
        security=_faststream_security(connection),
        logger=logging.getLogger(f"faststream.{client_id}"),
    )


def make_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    """A plain aiokafka producer with the broker's guarantees, for what faststream cannot send
    (tombstones: a record whose value is null deletes its key from a compacted topic)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        **producer_options(settings),
        **kafka_client_options(settings),
    )


def consumer_options(settings: KafkaSettings) -> dict[str, Any]:
    """Consumer sizing and group timings shared by every subscriber."""
    return {
        "max_partition_fetch_bytes": settings.max_message_bytes + 64 * 1024,
        "fetch_max_bytes": max(52_428_800, settings.max_message_bytes * 2),
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        # The longest a fetch waits for data (aiokafka: 500 ms). Apache Kafka answers as soon as a
        # record arrives; brokers that do not (the embedded one) hold it this long, which was most
        # of the snapshot-to-gateway latency (bench.freshness). Idle, it is ten fetches a second.
        "fetch_max_wait_ms": 100,
    }


def topic_configs(spec: TopicSpec, settings: KafkaSettings) -> dict[str, str]:
    """Topic-level configs: compaction, retention, the message size limit and, replicated, min ISR."""
    configs = {
        "max.message.bytes": str(settings.max_message_bytes + 64 * 1024),
        "retention.ms": str(spec.retention_ms),
    }
    if settings.replication_factor >= 3:
        # With acks=all (idempotent producers) a write needs two in-sync copies: one broker may be
        # down for maintenance and nothing acknowledged is lost when a second one fails.
        configs["min.insync.replicas"] = "2"
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
        configs["min.cleanable.dirty.ratio"] = "0.1"
        configs["segment.ms"] = str(3600 * 1000)
    return configs


def dead_letter_configs(settings: KafkaSettings) -> dict[str, str]:
    """Configs of a ``<topic>.dlq`` topic: the size limit and, replicated, the same min ISR."""
    configs = {"max.message.bytes": str(settings.max_message_bytes + 64 * 1024)}
    if settings.replication_factor >= 3:
        configs["min.insync.replicas"] = "2"
    return configs


async def ensure_topics(settings: KafkaSettings, specs: tuple[TopicSpec, ...] = ALL_TOPICS) -> list[str]:
    """Create the missing topics (and their dead-letter topics); returns the names created."""
    wanted: list[NewTopic] = []
    for spec in specs:
        wanted.append(
            NewTopic(
                spec.name,
                settings.topic_partitions,
                settings.replication_factor,
                topic_configs=topic_configs(spec, settings),
            )
        )
        wanted.append(
            NewTopic(
                spec.dead_letter,
                1,
                settings.replication_factor,
                topic_configs=dead_letter_configs(settings),
            )
        )
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **kafka_client_options(settings)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            # aiokafka does not raise on per-topic errors; 36 = already exists (a racing replica).
            for name, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, 36):
                    raise RuntimeError(f"creating topic {name} failed with Kafka error code {code}")
            await _wait_for_leaders(admin, {t.name: t.num_partitions for t in missing})
        return [t.name for t in missing]
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, partitions: dict[str, int], limit: float = 30
) -> None:
    """Wait until every new topic has all its partitions with a leader.

    Apache Kafka answers CreateTopics before the partitions have leaders; a producer that sends to
    a partition its metadata does not know yet fails, so start-up waits here (bounded).
    """
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        described = await admin.describe_topics(list(partitions))
        ready = {
            topic["topic"]
            for topic in described
            if topic.get("error_code", 0) == 0
            and len([p for p in topic.get("partitions", []) if p.get("leader", -1) >= 0])
            >= partitions.get(topic["topic"], 1)
        }
        if ready >= set(partitions):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(
                f"topics without leaders after {limit:.0f} s: {sorted(set(partitions) - ready)}"
            )
        await asyncio.sleep(0.1)


async def topic_partitions(settings: KafkaSettings, topic: str) -> list[int]:
    """Partition numbers of ``topic`` (empty if it does not exist), from the cluster metadata."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **kafka_client_options(settings)
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and entry.get("error_code", 0) == 0:
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []


class LivePartitionCount:
    """A topic's partition count as the broker's metadata states it, followed while the process runs.

    Producers place records with ``partition_for(category, count)``, which takes this object as the
    count: once the partitions of the topics grow (README, "Scaling"), new records go to their
    categories' new partitions without a restart. A new count is adopted when a second read, one
    ``partition_refresh_seconds`` later, confirms it: by then every client of the process has
    refreshed its own metadata (``metadata_max_age_ms``), so no producer is sent to a partition it
    does not know yet.
    """

    def __init__(self, settings: KafkaSettings, topic: str, value: int | None = None) -> None:
        self.settings = settings
        self.topic = topic
        self.value = value or settings.topic_partitions
        #: A count read once and not yet adopted.
        self.seen: int | None = None

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"LivePartitionCount({self.topic!r}, {self.value})"

    async def refresh(self, *, confirmed: bool = False) -> int:
        """Re-read the count from the broker (an unknown topic keeps the last count). A changed count
        is adopted when it was read before too, or at once with ``confirmed`` (at start-up, before
        anything was sent)."""
        numbers = await topic_partitions(self.settings, self.topic)
        count = len(numbers) or self.value
        if count != self.value and (confirmed or self.seen == count):
            log.warning(
                "partition count changed",
                extra={"topic": self.topic, "partitions_before": self.value, "partitions": count},
            )
            self.value = count
        self.seen = count
        return self.value

    async def follow(self, stop: asyncio.Event) -> None:
        """Refresh every ``partition_refresh_seconds`` until ``stop``; a failed read is retried."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.partition_refresh_seconds)
            if stop.is_set():
                return
            try:
                await self.refresh()
            except Exception as error:
                log.warning(
                    "reading the partition count failed; retried",
                    extra={"topic": self.topic, "error": f"{type(error).__name__}: {error}"},
                )


async def drain_to_end(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    ends: Mapping[TopicPartition, int],
    on_record: Callable[[ConsumerRecord[Any, Any]], None],
    *,
    fetch_timeout_ms: int = 500,
    read_committed: bool = False,
) -> int:
    """Read assigned ``partitions`` from their positions to their ends; returns the records read.

    A partition's end is the larger of its listed end offset and the highwater of fetch answers:
    the embedded broker lists end offsets too low after multi-record batches, highwaters are exact.
    A ``read_committed`` consumer ends at the last stable offset instead: it never reads past an
    open transaction, so waiting for the highwater would wait for that transaction to end.
    """

    def end(tp: TopicPartition) -> int:
        fetched = consumer.last_stable_offset(tp) if read_committed else consumer.highwater(tp)
        return max(ends.get(tp, 0), fetched or 0)

    async def behind() -> list[TopicPartition]:
        return [tp for tp in partitions if await consumer.position(tp) < end(tp)]

    read = 0
    while pending := await behind():
        batch = await consumer.getmany(*pending, timeout_ms=fetch_timeout_ms)
        for records in batch.values():
            for record in records:
                on_record(record)
                read += 1
    return read


def kafka_client_options(settings: KafkaSettings) -> dict[str, Any]:
    """The one translation of the connection settings (security, metadata refresh) into aiokafka
    keyword arguments: every client (admin, consumers, producers, faststream's broker) uses it.

    ``metadata_max_age_ms`` is how soon a client sees a grown partition count (a consumer group
    then rebalances onto the new partitions)."""
    options: dict[str, Any] = {"metadata_max_age_ms": int(settings.partition_refresh_seconds * 1000)}
    if settings.security_protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = settings.security_protocol
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


async def publish_event(
    broker: KafkaBroker,
    spec: TopicSpec,
    event: BaseModel,
    *,
    key: bytes,
    partition: int | None,
    event_id: str,
    time: datetime,
    producer: str,
    subject: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> None:
    """Publish ``event`` as JSON with CloudEvents binary-mode headers; waits for the broker's ack."""
    attributes = CloudEventAttributes(
        id=event_id, source=SOURCE_PREFIX + producer, type=event_type(spec.name), time=time, subject=subject
    )
    with tracing.span(f"{spec.name} publish", kind=tracing.SpanKind.PRODUCER):
        headers = attributes.to_headers() | dict(extra_headers or {}) | tracing.inject()
        await broker.publish(
            event.model_dump_json().encode(),
            spec.name,
            key=key,
            partition=partition,
            headers=headers,
        )


def isolation_level(settings: KafkaSettings) -> str:
    """What our consumers of transactionally written topics read: committed records only when
    the producers use transactions (an aborted record is a fenced-off writer's, never an event)."""
    return "read_committed" if settings.transactions else "read_uncommitted"


def make_transactional_producer(
    settings: KafkaSettings, *, client_id: str, transactional_id: str
) -> AIOKafkaProducer:
    """A producer like ``make_producer`` whose sends go in transactions under ``transactional_id``:
    starting it fences every earlier producer of that id and aborts what that one left open."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        transactional_id=transactional_id,
        compression_type="zstd",
        max_request_size=settings.max_message_bytes + 64 * 1024,
        **kafka_client_options(settings),
    )
