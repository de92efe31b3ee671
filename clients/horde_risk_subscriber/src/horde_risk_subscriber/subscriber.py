"""``RiskSubscriber``: the deletion-risk events of Horde Model Analytics as typed Python objects.

Two topics carry them (names under an optional deployment prefix):

- ``analytics.deletion-risk.changed.v1``: every change of a model's risk (``DeletionRiskChanged``);
- ``analytics.deletion-risk.current.v1``: compacted, the latest state per model
  (``DeletionRiskCurrent``, key ``category/model``, an empty value once a model is removed).

Records are CloudEvents in binary mode: the JSON event is the value, the attributes are ``ce_*``
headers. Where to start (only when the consumer group has no committed offsets yet, or always
with ``resume=False``):

- ``"now"``: changes published from now on;
- ``"current"``: first the current state of every model (one ``CurrentRisk`` each, read from the
  compacted topic), then every change after it, each once;
- a ``datetime``: changes published from that moment on.

Offsets are committed to the consumer group ``group_id`` after each change has been handled
(when the next one is asked for, and on close), so a restarted subscriber continues where it
stopped. A record that cannot be read is handed over as ``UnreadableRecord`` (with its
coordinates and the reason), never dropped silently and never stopping the subscriber.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from horde_risk_subscriber.models import CloudEvent, DeletionRiskChanged, DeletionRiskCurrent

log = logging.getLogger(__name__)

CHANGED_TOPIC = "analytics.deletion-risk.changed.v1"
CURRENT_TOPIC = "analytics.deletion-risk.current.v1"
#: Schema 2 numbers a category's events (``sequence``), 3 adds ``RiskState.impact``, 4 the
#: lifecycle (history); older records read with sequence 0 and without those fields.
SUPPORTED_SCHEMA_VERSIONS = (1, 2, 3, 4)
Start = Literal["now", "current"] | datetime
#: How far before the snapshot the change log is re-read to close the gap between the two
#: topics (a change and its current state are published one after the other); duplicates are
#: recognised by event id and time and skipped.
SNAPSHOT_OVERLAP = timedelta(seconds=60)


@dataclass(frozen=True)
class RiskChange:
    """One change of a model's risk, from the change log."""

    event: DeletionRiskChanged
    cloudevent: CloudEvent
    partition: int
    offset: int


@dataclass(frozen=True)
class CurrentRisk:
    """The state of one model when the subscriber started (``start="current"``)."""

    event: DeletionRiskCurrent
    cloudevent: CloudEvent
    partition: int
    offset: int


@dataclass(frozen=True)
class UnreadableRecord:
    """A record this kit could not turn into an event: where it is, why, and its bytes."""

    topic: str
    partition: int
    offset: int
    reason: str
    value: bytes | None


Received = RiskChange | CurrentRisk | UnreadableRecord


def cloudevent_of(headers: Iterable[tuple[str, bytes]]) -> CloudEvent:
    """The CloudEvents attributes of a binary-mode record; ``ValueError`` if one is missing."""
    found = {key: value.decode() for key, value in headers}
    try:
        return CloudEvent(
            id=found["ce_id"],
            source=found["ce_source"],
            type=found["ce_type"],
            time=datetime.fromisoformat(found["ce_time"].replace("Z", "+00:00")),
            subject=found.get("ce_subject"),
            specversion=found["ce_specversion"],
            datacontenttype=found.get("content-type", "application/json"),
        )
    except KeyError as missing:
        raise ValueError(f"missing CloudEvents header {missing.args[0]!r}") from None


def parse_record(record: ConsumerRecord[Any, Any]) -> Received:
    """A record of either topic as a typed event, or ``UnreadableRecord`` saying why not."""
    value: bytes | None = record.value
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset, "value": value}
    try:
        cloudevent = cloudevent_of(record.headers or ())
        version = json.loads(value or b"null").get("schema_version")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            return UnreadableRecord(
                reason=f"schema_version {version!r} is not in {SUPPORTED_SCHEMA_VERSIONS}: upgrade the kit",
                **where,
            )
        if record.topic.endswith(CURRENT_TOPIC):
            current = DeletionRiskCurrent.model_validate_json(value or b"")
            return CurrentRisk(current, cloudevent, record.partition, record.offset)
        change = DeletionRiskChanged.model_validate_json(value or b"")
        return RiskChange(change, cloudevent, record.partition, record.offset)
    except (ValueError, AttributeError, ValidationError) as error:
        return UnreadableRecord(reason=f"{type(error).__name__}: {error}".splitlines()[0], **where)


class RiskSubscriber:
    """Async iterator of ``RiskChange`` (and, first, ``CurrentRisk`` with ``start="current"``).

    ``async with RiskSubscriber("kafka:9092", group_id="my-service") as risks:
    async for item in risks: ...``. Extra keyword arguments go to ``AIOKafkaConsumer``
    (``security_protocol``, ``sasl_mechanism``, ``ssl_context`` ...). Records are read committed
    (``isolation_level="read_committed"``): the workers publish in Kafka transactions, and an
    aborted record is a fenced-off (paused, then resumed) worker's, never an event.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str,
        start: Start = "now",
        resume: bool = True,
        topic_prefix: str = "",
        categories: Iterable[str] | None = None,
        **consumer_options: Any,
    ) -> None:
        self.changed_topic = topic_prefix + CHANGED_TOPIC
        self.current_topic = topic_prefix + CURRENT_TOPIC
        self.start, self.resume = start, resume
        self.categories = None if categories is None else {str(c) for c in categories}
        consumer_options.setdefault("isolation_level", "read_committed")
        self.bootstrap_servers, self.options = bootstrap_servers, consumer_options
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            **consumer_options,
        )
        self._uncommitted: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> RiskSubscriber:
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit what was handled and leave."""
        try:
            await self.commit()
        finally:
            await self.consumer.stop()

    async def commit(self) -> None:
        """Store the position after every change handled so far in the consumer group."""
        if self._uncommitted:
            offsets, self._uncommitted = self._uncommitted, {}
            await self.consumer.commit(offsets)

    def _wanted(self, item: Received) -> bool:
        if self.categories is None or isinstance(item, UnreadableRecord):
            return True
        return item.event.category.value in self.categories

    async def __aiter__(self) -> AsyncIterator[Received]:
        partitions = await self._partitions(self.changed_topic)
        self.consumer.assign(partitions)
        seen: dict[str, tuple[str, int, int]] = {}
        if self.resume and await self._resume_from_group(partitions):
            pass
        elif self.start == "current":
            async for state in self._snapshot(seen):
                if self._wanted(state):
                    yield state
        else:
            await self._seek_start(partitions)
        while True:
            batches = await self.consumer.getmany(timeout_ms=1000)
            await self.commit()
            for tp, records in batches.items():
                for record in records:
                    item = parse_record(record)
                    self._uncommitted[tp] = record.offset + 1
                    if isinstance(item, RiskChange) and _already_in_snapshot(item, record, seen):
                        continue
                    if self._wanted(item):
                        yield item
                        await self.commit()

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        return await _partitions(self.consumer, topic)

    async def _resume_from_group(self, partitions: list[TopicPartition]) -> bool:
        """Continue from the group's committed offsets, if it has any."""
        committed = {tp: await self.consumer.committed(tp) for tp in partitions}
        if all(offset is None for offset in committed.values()):
            return False
        ends = await self.consumer.end_offsets(partitions)
        for tp, offset in committed.items():
            self.consumer.seek(tp, ends[tp] if offset is None else offset)
        return True

    async def _seek_start(self, partitions: list[TopicPartition]) -> None:
        if isinstance(self.start, datetime):
            moment = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
            await self._seek_to_time(partitions, moment)
        else:
            ends = await self.consumer.end_offsets(partitions)
            for tp in partitions:
                self.consumer.seek(tp, ends[tp])

    async def _seek_to_time(self, partitions: list[TopicPartition], moment: datetime) -> None:
        found = await self.consumer.offsets_for_times(
            {tp: int(moment.timestamp() * 1000) for tp in partitions}
        )
        ends = await self.consumer.end_offsets(partitions)
        for tp in partitions:
            at = found.get(tp)
            self.consumer.seek(tp, ends[tp] if at is None else at.offset)

    async def _snapshot(self, seen: dict[str, tuple[str, int, int]]) -> AsyncIterator[Received]:
        """Every model's latest state from the compacted topic, read to its end (a consumer of
        its own, no group); ``seen`` gets each key's event id and record time."""
        started = datetime.now(UTC)
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", **self.options,
        )  # fmt: skip
        await reader.start()
        latest: dict[str, ConsumerRecord[Any, Any]] = {}
        try:
            parts = await _partitions(reader, self.current_topic)
            reader.assign(parts)
            ends = await reader.end_offsets(parts)
            for tp in parts:
                await reader.seek_to_beginning(tp)
            remaining = {tp for tp in parts if ends[tp] > 0}
            while remaining:
                batches = await reader.getmany(*remaining, timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        if record.key is not None:
                            latest[record.key.decode()] = record
                for tp in list(remaining):
                    if await reader.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await reader.stop()
        for key, record in latest.items():
            headers = dict((k, v.decode()) for k, v in record.headers or ())
            item = parse_record(record) if record.value else None  # empty: the model was removed
            sequence = item.event.sequence if isinstance(item, CurrentRisk) else 0
            seen[key] = (headers.get("ce_id", ""), record.timestamp, sequence)
            if item is not None:
                yield item
        await self._seek_to_time(list(self.consumer.assignment()), started - SNAPSHOT_OVERLAP)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; a clear error when it does not exist."""
    found = await consumer._client.fetch_all_metadata()  # no subscription: ask the cluster
    partitions = found.partitions_for_topic(topic)
    if not partitions:
        raise RuntimeError(f"topic {topic!r} does not exist (wrong bootstrap servers or topic_prefix?)")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


def _already_in_snapshot(
    item: RiskChange, record: ConsumerRecord[Any, Any], seen: dict[str, tuple[str, int, int]]
) -> bool:
    """A change re-read from the overlap that the snapshot already reflects (same event, or older:
    by ``sequence`` when both carry one, else by record time)."""
    known = seen.get(f"{item.event.category.value}/{item.event.model}")
    if known is None:
        return False
    event_id, timestamp, sequence = known
    if item.cloudevent.id == event_id:
        return True
    if sequence > 0 and item.event.sequence > 0:
        return bool(item.event.sequence <= sequence)
    return bool(record.timestamp <= timestamp)
