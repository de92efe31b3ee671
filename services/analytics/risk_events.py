"""Publishing deletion-risk changes: history topic, compacted current-state topic, Redis stream.

The previous state of every owned model comes from the compacted current-state topic, read when
partitions are assigned, so a replica that takes over (or a cold start) diffs against what was
really published. Every event of a category has the next number of the category's sequence
(recovered at assignment as the highest one on the current-state topic or at the tail of the
history topic) and an id hashing category, model, generation and sequence: unique per event,
and the same when a replay numbers the same changes from the same published state.

A model's change is published before its current state, so a crash between the two leaves the
change as the last event of its category while the current-state topic still holds the old
state: the next owner finds that event at the tail of the history topic, recognises the same
change of the same generation and writes only the current state, with the event's number and
id. A publish stops between two models when the worker loses its partitions (``keep_going``).

Every write of a model's events is fenced (``shared.store.fencing``): the owner's token is
checked right before each record is sent, and the Redis stream entry is added by a script that
checks it atomically. With ``HORDE_KAFKA__TRANSACTIONS`` (Apache Kafka) the records of one
publish go out in one transaction of the partition's producer (``partition_producers``), the
Redis stream entries only after its commit: a resumed zombie's records are refused or aborted by
Kafka, and our consumers read committed records only. Without transactions (the embedded broker)
records go through a plain producer without linger, so between a check and the record leaving
the process there is no buffering delay in which a pause could hold it back; a pause exactly
there still sends that one record late (consumers drop it by ``sequence``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ValidationError

from services.analytics.partition_producers import Fenced, PartitionProducers
from shared.domain.categories import ModelCategory, has_runtime_data
from shared.domain.risk.changes import PublishedChange, changed_models, number_changes
from shared.domain.risk.models import ModelDeletionRiskInfo
from shared.events.cloudevents import CloudEventAttributes, event_type
from shared.events.risk import DeletionRiskChanged, DeletionRiskCurrent, RiskBasis, RiskState
from shared.kafka import SOURCE_PREFIX, drain_to_end, encode_key, isolation_level, kafka_client_options
from shared.metrics import EVENTS_PUBLISHED
from shared.settings import KafkaSettings
from shared.store.fencing import Fence
from shared.store.risk_stream import RiskEventStream
from shared.topics import TopicSpec, categories_of_partition, partition_for

log = logging.getLogger(__name__)
PRODUCER = "analytics"


#: History records read per step while looking back for each category's last event.
_TAIL_STEP = 1000
#: How far back the history of one partition is searched at most (records).
_TAIL_LIMIT = 500_000


@dataclass
class PublishedRisk:
    """What the current-state topic says about the owned categories."""

    states: dict[ModelCategory, dict[str, RiskState]] = field(default_factory=dict)
    #: Highest event sequence per category among the current-state records read.
    sequences: dict[ModelCategory, int] = field(default_factory=dict)


async def read_current_states(
    settings: KafkaSettings, spec: TopicSpec, partitions: set[int], *, limit_seconds: float = 30
) -> PublishedRisk:
    """Latest state per model on the owned partitions of the compacted current-state topic, and
    the highest event sequence seen per category."""
    published = PublishedRisk()
    if not partitions:
        return published
    # "earliest": the reset aiokafka starts on assign() otherwise races seek_to_beginning and can
    # win with the *latest* offset, which silently reads nothing.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level=isolation_level(settings),
        **kafka_client_options(settings),
    )  # fmt: skip
    await consumer.start()
    try:
        assigned = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)

        await asyncio.wait_for(
            drain_to_end(
                consumer,
                assigned,
                ends,
                lambda r: _apply_current(published, r.key, r.value),
                read_committed=settings.transactions,
            ),
            limit_seconds,
        )
    finally:
        await consumer.stop()
    return published


async def read_last_changes(
    settings: KafkaSettings, spec: TopicSpec, partitions: set[int], *, limit_seconds: float = 60
) -> dict[ModelCategory, PublishedChange]:
    """The last change event of each owned category that publishes risk, from the history topic.

    Each partition is read backwards, a step at a time, until every such category on it has been
    seen (or the partition's start, or ``_TAIL_LIMIT`` records back, is reached).
    """
    last: dict[ModelCategory, PublishedChange] = {}
    wanted = {
        p: {c for c in categories_of_partition(p, settings.topic_partitions) if has_runtime_data(c)}
        for p in sorted(partitions)
    }
    wanted = {p: cats for p, cats in wanted.items() if cats}
    if not wanted:
        return last
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level=isolation_level(settings),
        **kafka_client_options(settings),
    )  # fmt: skip
    await consumer.start()
    try:
        assigned = [TopicPartition(spec.name, p) for p in wanted]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        starts = await consumer.beginning_offsets(assigned)
        for tp in assigned:
            consumer.pause(tp)
        for tp in assigned:
            await asyncio.wait_for(
                _read_tail(
                    consumer,
                    tp,
                    starts[tp],
                    ends[tp],
                    wanted[tp.partition],
                    last,
                    read_committed=settings.transactions,
                ),
                limit_seconds,
            )
    finally:
        await consumer.stop()
    return last


async def _read_tail(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int,
    categories: set[ModelCategory], last: dict[ModelCategory, PublishedChange], *, read_committed: bool,
) -> None:  # fmt: skip
    """Read ``tp`` backwards from its end in steps until every one of ``categories`` has its
    last change in ``last``."""
    upper: int | None = None
    lower = max(start, end - _TAIL_STEP)
    consumer.resume(tp)
    try:
        while not categories <= last.keys():
            found: dict[ModelCategory, PublishedChange] = {}
            for record in await _read_range(consumer, tp, lower, upper, end, read_committed=read_committed):
                summary = _published_change(record)
                if summary is not None and summary[0] in categories:
                    found[summary[0]] = summary[1]  # later records overwrite earlier ones
            for category, change in found.items():
                last.setdefault(category, change)
            if lower <= start:
                break
            if end - lower >= _TAIL_LIMIT:
                log.warning(
                    "risk history searched %d records back without the last event of %s",
                    end - lower, sorted(c.value for c in categories - last.keys()),
                )  # fmt: skip
                break
            upper, lower = lower, max(start, lower - _TAIL_STEP)
    finally:
        consumer.pause(tp)


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int | None, end: int, *,
    read_committed: bool,
) -> list[ConsumerRecord[Any, Any]]:  # fmt: skip
    """Records of ``tp`` from ``lower`` to ``upper`` (exclusive), or to the partition's end when
    ``upper`` is ``None`` (up to the highwater: the embedded broker lists end offsets too low)."""
    records: list[ConsumerRecord[Any, Any]] = []
    consumer.seek(tp, lower)
    if upper is None:
        await drain_to_end(consumer, [tp], {tp: end}, records.append, read_committed=read_committed)
        return records
    while await consumer.position(tp) < upper:
        batch = await consumer.getmany(tp, timeout_ms=500)
        records.extend(r for r in batch.get(tp, []) if r.offset < upper)
    return records


def _published_change(record: ConsumerRecord[Any, Any]) -> tuple[ModelCategory, PublishedChange] | None:
    """The category and summary of one history record (any schema version), or ``None``."""
    event_id = dict(record.headers or ()).get("ce_id")
    if not record.value or event_id is None:
        return None
    try:
        event = DeletionRiskChanged.model_validate_json(record.value)
    except ValidationError:
        log.warning("ignoring an unreadable risk change", extra={"offset": record.offset})
        return None
    signature = event.current.signature() if event.current is not None else None
    change = PublishedChange(
        event.model, event.basis.generation, event.sequence, event_id.decode(), signature
    )
    return event.category, change


def _apply_current(published: PublishedRisk, key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    category_name, _, model = key.decode().partition("/")
    try:
        category = ModelCategory(category_name)
    except ValueError:
        return
    if not value:
        published.states.get(category, {}).pop(model, None)
        return
    try:
        record = DeletionRiskCurrent.model_validate_json(value)
    except ValidationError:
        log.warning("ignoring an unreadable current-risk record", extra={"key": key.decode()})
        return
    published.states.setdefault(category, {})[model] = record.state
    published.sequences[category] = max(published.sequences.get(category, 0), record.sequence)


#: Header carrying the publishing owner's fencing token (see ``shared.store.fencing``).
OWNER_EPOCH_HEADER = "hma_owner_epoch"


@dataclass(frozen=True, slots=True)
class _Saved:
    """A category's published state before a transaction (put back when it aborts)."""

    states: dict[str, RiskState]
    sequence: int | None
    pending: PublishedChange | None


class _Refused(Exception):
    """The Redis fence refused a write inside a transaction: abort it."""


class RiskChangePublisher:
    """Diffs each new risk state of a category against the published one and publishes changes."""

    def __init__(
        self, *, changed: TopicSpec, current: TopicSpec, partitions: int, stream: RiskEventStream,
        producer: AIOKafkaProducer, transactions: PartitionProducers | None = None,
    ) -> None:  # fmt: skip
        #: A plain producer (no linger): changes, current states and tombstones.
        self.producer = producer
        #: Per owned partition, a transactional producer; ``None``: records go through ``producer``.
        self.transactions = transactions
        #: The gateway's Redis stream (``shared.store``); its fences guard the Kafka records too.
        self.stream = stream
        self.fences = stream.fences
        self.changed = changed
        self.current = current
        self.partitions = partitions
        self.states: dict[ModelCategory, dict[str, RiskState]] = {}
        #: Highest event sequence used per owned category (recovered at assignment).
        self.sequences: dict[ModelCategory, int] = {}
        #: Last change event of an owned category whose current state was never recorded: a
        #: previous owner died between the two (see the module doc).
        self.pending: dict[ModelCategory, PublishedChange] = {}

    async def own(self, partitions: set[int]) -> None:
        """Start the transactional producers of the assigned ``partitions`` (fencing their previous
        owners); before the published states are read, so what a zombie left open is aborted."""
        if self.transactions is not None:
            await self.transactions.own(partitions)

    async def close(self) -> None:
        if self.transactions is not None:
            await self.transactions.close()

    def load(self, published: PublishedRisk, last_changes: dict[ModelCategory, PublishedChange]) -> None:
        """Start from what Kafka holds for the owned categories (at assignment)."""
        self.states = published.states
        self.sequences = dict(published.sequences)
        self.pending = {}
        for category, change in last_changes.items():
            committed = self.sequences.get(category, 0)
            if change.sequence > committed:
                self.pending[category] = change
            self.sequences[category] = max(committed, change.sequence)

    def forget(self) -> None:
        """Nothing is owned any more."""
        self.states, self.sequences, self.pending = {}, {}, {}

    async def _publish(
        self, producer: AIOKafkaProducer, topic: TopicSpec, event: BaseModel | None, key: bytes,
        partition: int, event_id: str, now: datetime, subject: str, epoch: int | None,
    ) -> None:  # fmt: skip
        """A change and its current state go out with the same id, key, partition, time, subject
        and owner epoch, as JSON with CloudEvents headers; ``None`` sends a tombstone."""
        if event is None:
            await producer.send_and_wait(topic.name, None, key=key, partition=partition)
            return
        attributes = CloudEventAttributes(
            id=event_id,
            source=SOURCE_PREFIX + PRODUCER,
            type=event_type(topic.name),
            time=now,
            subject=subject,
        )
        headers = attributes.to_headers() | ({OWNER_EPOCH_HEADER: str(epoch)} if epoch is not None else {})
        await producer.send_and_wait(
            topic.name, event.model_dump_json().encode(), key=key, partition=partition,
            headers=[(name, value.encode()) for name, value in headers.items()],
        )  # fmt: skip

    async def _owns(self, category: ModelCategory, fence: Fence | None, count: int) -> bool:
        """Whether ``fence`` still holds (always without one); logs the refusal."""
        if fence is None or await self.fences.holds(fence):
            return True
        log.warning(
            "risk publishing refused: another worker owns the category now",
            extra={"category": category.value, "events": count, "owner_epoch": fence.token},
        )
        return False

    async def _stream(self, category: ModelCategory, fence: Fence | None, fields: dict[str, str]) -> bool:
        """The event on the gateway's Redis stream (atomically fenced); ``False`` when refused."""
        return await self.stream.append(category, fields, fence=fence)

    async def publish(
        self,
        category: ModelCategory,
        models: Sequence[ModelDeletionRiskInfo],
        basis: RiskBasis,
        *,
        keep_going: Callable[[], bool] = lambda: True,
        fence: Fence | None = None,
    ) -> int:
        """Publish every change of ``category``; returns how many events were published.

        Stops between two models once ``keep_going`` says no (the partitions are moving), and
        before any record once ``fence`` no longer holds (another worker was assigned the
        category since: this one is a resumed zombie). With transactions, everything this call
        sends is one transaction (aborted when the fence refuses a record or the producer was
        fenced: then nothing of it was published) and goes to the Redis stream after the commit.
        """
        if self.transactions is None:
            count = await self._send(self.producer, category, models, basis, keep_going, fence, None)
        else:
            count = await self._send_in_transaction(category, models, basis, keep_going, fence)
        if count:
            EVENTS_PUBLISHED.labels(self.changed.name).inc(count)
            log.info("risk changes published", extra={"category": category.value, "events": count})
        return count

    async def _send_in_transaction(
        self, category: ModelCategory, models: Sequence[ModelDeletionRiskInfo], basis: RiskBasis,
        keep_going: Callable[[], bool], fence: Fence | None,
    ) -> int:  # fmt: skip
        """``_send`` in one transaction of the partition's producer; the Redis stream entries after
        its commit. On an abort the in-memory published state is put back as it was."""
        assert self.transactions is not None
        partition = partition_for(category, self.partitions)
        if partition not in self.transactions.producers:
            # Its start failed at assignment, or it was fenced by a transaction timeout: start it
            # again only while this worker still holds the category (else it fences the owner).
            if not await self._owns(category, fence, 0):
                return 0
            await self.transactions.start(partition)
        saved = _Saved(
            dict(self.states.get(category, {})), self.sequences.get(category), self.pending.get(category)
        )
        streamed: list[dict[str, str]] = []
        try:
            async with self.transactions.transaction(partition) as producer:
                count = await self._send(producer, category, models, basis, keep_going, fence, streamed)
        except _Refused:
            self._restore(category, saved)
            return 0
        except Fenced:
            self._restore(category, saved)
            log.warning(
                "risk publishing refused: the transactional producer of partition %s was fenced",
                partition,
                extra={"category": category.value, "owner_epoch": fence.token if fence else None},
            )
            if fence is not None and not await self.fences.holds(fence):
                return 0  # another worker owns the category now: this one is a resumed zombie
            # Still the owner: the transaction outlived the broker's timeout. Retried.
            raise
        except BaseException:
            self._restore(category, saved)
            raise
        for fields in streamed:
            if not await self._stream(category, fence, fields):
                await self._owns(category, fence, count)  # logs the refusal
                break
        return count

    def _restore(self, category: ModelCategory, saved: _Saved) -> None:
        """Back to what was published before an aborted transaction."""
        self.states[category] = saved.states
        self.sequences.pop(category, None)
        self.pending.pop(category, None)
        if saved.sequence is not None:
            self.sequences[category] = saved.sequence
        if saved.pending is not None:
            self.pending[category] = saved.pending

    async def _send(
        self, producer: AIOKafkaProducer, category: ModelCategory, models: Sequence[ModelDeletionRiskInfo],
        basis: RiskBasis, keep_going: Callable[[], bool], fence: Fence | None,
        streamed: list[dict[str, str]] | None,
    ) -> int:  # fmt: skip
        """Send the changes and current states through ``producer``; the Redis stream entries are
        added right away, or collected in ``streamed`` (a transaction adds them after its commit).
        Inside a transaction a refusal of the fence raises ``_Refused`` (aborting it)."""
        published = self.states.setdefault(category, {})
        previous = {name: state.signature() for name, state in published.items()}
        by_name = {m.name: m for m in models}
        now = datetime.now(UTC)
        partition = partition_for(category, self.partitions)
        states = {name: RiskState.of(model) for name, model in by_name.items()}
        numbered = number_changes(
            category.value, basis.generation, changed_models(previous, models),
            {name: state.signature() for name, state in states.items()},
            last_sequence=self.sequences.get(category, 0), pending=self.pending.get(category),
        )  # fmt: skip
        epoch = fence.token if fence is not None else None
        send = functools.partial(self._publish, producer)
        count = 0
        for change in numbered:
            name = change.model
            if not keep_going():
                log.info("risk publishing interrupted", extra={"category": category.value, "events": count})
                break
            current = states.get(name)
            event = DeletionRiskChanged(
                category=category, model=name, previous=published.get(name), current=current,
                changes=change.kinds, basis=basis, detected_at=now, sequence=change.sequence,
            )  # fmt: skip
            event_id = change.event_id
            key, subject = encode_key(category.value, name), f"{category}/{name}"
            if change.already_published:
                # Published by the previous owner, which died before recording its current state.
                self.pending.pop(category, None)
                log.info("risk change already published", extra={"category": category.value, "model": name})
            elif await self._owns(category, fence, count):
                await send(self.changed, event, key, partition, event_id, now, subject, epoch)
                count += 1
            elif streamed is not None:
                raise _Refused
            else:
                break
            if not await self._owns(category, fence, count):
                if streamed is not None:
                    raise _Refused
                break
            snapshot = None
            if current is not None:
                snapshot = DeletionRiskCurrent(
                    category=category, model=name, state=current, basis=basis, sequence=change.sequence
                )
            await send(self.current, snapshot, key, partition, event_id, now, subject, epoch)
            if current is None:
                published.pop(name, None)
            else:
                published[name] = current
            self.sequences[category] = max(self.sequences.get(category, 0), change.sequence)
            fields = {"id": event_id, "source": SOURCE_PREFIX + PRODUCER, "data": event.model_dump_json()}
            if streamed is not None:
                streamed.append(fields)
            elif not await self._stream(category, fence, fields):
                await self._owns(category, fence, count)  # logs the refusal
                break
        return count
