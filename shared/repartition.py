"""Re-publish the current state after the partition count of the topics grew.

A category's partition depends on the partition count (``shared.topics.partition_for``). When the
partitions grow, producers and the analytics consumer group follow the new count within
``HORDE_KAFKA__PARTITION_REFRESH_SECONDS``, but the compacted records already written stay on the
partitions they were written to, where consumers now skip them (``shared.topics.misplaced``). This
command copies, for every key of every compacted topic, its newest record to the key's partition
under the current count, unless that partition already holds the key as new or newer. The copy keeps
the value, the headers (same ``ce_id``: consumers treat it as the event they may have seen) and the
timestamp, and adds ``hma_moved_from``. Running it again copies nothing; it is safe at any time.

    python -m shared.repartition        # with the services' environment (HORDE_KAFKA__...)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka import drain_to_end, kafka_client_options, make_producer, topic_partitions
from shared.settings import KafkaSettings
from shared.topics import ALL_TOPICS, TopicSpec, partition_of_key

log = logging.getLogger(__name__)

#: Header added to a copied record: the partition it was copied from.
MOVED_FROM_HEADER = "hma_moved_from"


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest record of one key on one partition."""

    partition: int
    offset: int
    timestamp: int
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Move:
    """Copy ``record`` (of ``key``) to ``partition``."""

    key: bytes
    partition: int
    record: Latest


def plan_moves(copies: Mapping[bytes, Mapping[int, Latest]], partitions: int) -> list[Move]:
    """The copies that put every key's newest record on its partition for ``partitions`` (pure).

    A key is moved when its newest record (by timestamp) is not on its partition and that partition
    holds nothing newer of it. A newest tombstone is copied only over a value it must delete.
    """
    moves: list[Move] = []
    for key, by_partition in copies.items():
        wanted = partition_of_key(key, partitions)
        if wanted is None or not by_partition:
            continue
        newest = max(by_partition.values(), key=lambda r: (r.timestamp, r.partition == wanted))
        if newest.partition == wanted:
            continue
        there = by_partition.get(wanted)
        if there is not None and there.timestamp >= newest.timestamp:
            continue
        if newest.value is None and (there is None or there.value is None):
            continue
        moves.append(Move(key, wanted, newest))
    return sorted(moves, key=lambda m: (m.partition, m.record.timestamp, m.key))


async def read_latest(settings: KafkaSettings, topic: str) -> tuple[int, dict[bytes, dict[int, Latest]]]:
    """The topic's partition count and the newest record of every key on every partition."""
    numbers = await topic_partitions(settings, topic)
    copies: dict[bytes, dict[int, Latest]] = {}
    if not numbers:
        return 0, copies
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=settings.max_message_bytes + 64 * 1024,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)

        def keep(record: Any) -> None:
            if record.key is None:
                return
            copies.setdefault(record.key, {})[record.partition] = Latest(
                record.partition, record.offset, record.timestamp, record.value, tuple(record.headers)
            )

        await drain_to_end(consumer, assigned, ends, keep)
    finally:
        await consumer.stop()
    return len(numbers), copies


async def republish(
    settings: KafkaSettings, specs: Iterable[TopicSpec] | None = None, *, limit_seconds: float = 300
) -> dict[str, int]:
    """Copy misplaced current state to its partitions on every compacted topic; returns the copies
    made per topic."""
    if specs is None:
        specs = [s.with_prefix(settings.topic_prefix) for s in ALL_TOPICS]
    producer = make_producer(settings, client_id="repartition")
    await producer.start()
    moved: dict[str, int] = {}
    try:
        for spec in specs:
            if not spec.compacted:
                continue  # event streams: new events go to the new partitions, old ones age out
            count, copies = await asyncio.wait_for(read_latest(settings, spec.name), limit_seconds)
            moves = plan_moves(copies, count)
            for move in moves:
                headers = [h for h in move.record.headers if h[0] != MOVED_FROM_HEADER]
                headers.append((MOVED_FROM_HEADER, str(move.record.partition).encode()))
                await producer.send_and_wait(
                    spec.name,
                    move.record.value,
                    key=move.key,
                    partition=move.partition,
                    timestamp_ms=move.record.timestamp,
                    headers=headers,
                )
            moved[spec.name] = len(moves)
            log.info("republished", extra={"topic": spec.name, "partitions": count, "moved": len(moves)})
    finally:
        await producer.stop()
    return moved


def main() -> None:
    """``python -m shared.repartition``: republish with the environment's Kafka settings."""
    from shared.logging import configure_logging
    from shared.settings import Settings

    settings = Settings()
    configure_logging("repartition", settings.log_level, json_lines=settings.log_json)
    moved = asyncio.run(republish(settings.kafka))
    print(json.dumps({"moved": moved, "total": sum(moved.values())}, sort_keys=True))


if __name__ == "__main__":
    main()
