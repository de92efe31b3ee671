"""Moving a poison record to its dead-letter topic: one way for every consumer of analytics.

The record keeps all its headers and gains the reason (``shared.events.dead_letter``); a value too
large to publish is truncated (the headers say so, with its size); a publish that still fails is
logged as an error with the record's coordinates, and processing goes on either way.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from shared.events.dead_letter import TRUNCATED_BYTES, DeadLetterReason, dead_letter_headers
from shared.metrics import DEAD_LETTER_FAILURES, DEAD_LETTERS

log = logging.getLogger(__name__)


async def publish_dead_letter(
    broker: KafkaBroker,
    dead_letter_topic: str,
    record: ConsumerRecord[Any, Any],
    error: Exception,
    *,
    consumer: str,
    max_message_bytes: int | None,
) -> bool:
    """Publish ``record`` to ``dead_letter_topic`` with the reason; False when that failed."""
    reason = DeadLetterReason(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        error_type=type(error).__name__,
        error=str(error),
        consumer=consumer,
    )
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    log.error("record rejected to dead-letter topic: %s", error, extra=where)
    value = record.value or b""
    limit = max_message_bytes if max_message_bytes is not None else TRUNCATED_BYTES
    keep = min(TRUNCATED_BYTES, limit // 2)
    if len(value) > limit:
        reason, value = reason.truncated(value, keep)
    try:
        try:
            await broker.publish(
                value, dead_letter_topic, key=record.key, headers=dead_letter_headers(record.headers, reason)
            )
        except MessageSizeTooLargeError:
            if reason.original_bytes is not None:
                raise
            reason, value = reason.truncated(value, keep)
            await broker.publish(
                value, dead_letter_topic, key=record.key, headers=dead_letter_headers(record.headers, reason)
            )
    except Exception as failure:
        log.error(
            "dead-letter publish failed; the record stays only on its topic",
            extra=where | {"dead_letter_topic": dead_letter_topic, "error_type": type(failure).__name__,
                           "error": str(failure), "value_bytes": len(record.value or b"")},
        )  # fmt: skip
        DEAD_LETTER_FAILURES.labels(record.topic).inc()
        return False
    if reason.original_bytes is not None:
        log.warning("dead-lettered value truncated", extra=where | {"original_bytes": reason.original_bytes})
    DEAD_LETTERS.labels(record.topic).inc()
    return True
